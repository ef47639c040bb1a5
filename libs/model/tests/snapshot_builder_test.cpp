#include "sop/model/snapshot_builder.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "sop/model/id_dictionary.hpp"
#include "sop/model/text.hpp"

namespace sop::model {
namespace {

bool HasFinding(const BuildResult& r, FindingType type, const std::string& subject,
                const std::string& field) {
  return std::any_of(r.findings.begin(), r.findings.end(), [&](const Finding& f) {
    return f.type == type && f.subject == subject && f.field == field;
  });
}

SnapshotBuilder TwoSites() {
  SnapshotBuilder b(Horizon{BucketKind::kWeek, 10, 1, 2});
  b.AddSite({"P1", "Plant", SiteKind::kPlant});
  b.AddSite({"DC1", "DC", SiteKind::kDistributionCenter});
  return b;
}

TEST(ModelBuilder, IndexesItemSitesBySiteThenItemRegardlessOfArrivalOrder) {
  auto b = TwoSites();
  for (const char* id : {"Z", "A", "M"}) {
    ItemRecord item;
    item.item_id = id;
    item.site_id = "P1";
    b.AddItem(item);
  }
  auto r = b.Build();
  ASSERT_EQ(r.snapshot.item_site_count(), 3u);
  EXPECT_EQ(r.snapshot.item_sites[0].item_id, "A");
  EXPECT_EQ(r.snapshot.item_sites[2].item_id, "Z");
  EXPECT_EQ(r.snapshot.FindItemSite("M", "P1")->value(), 1);
  EXPECT_FALSE(r.snapshot.FindItemSite("M", "DC1").has_value());
  EXPECT_EQ(r.snapshot.ItemSiteName(ItemSiteIndex(1)), "M@P1");
  EXPECT_TRUE(r.findings.empty());
}

TEST(ModelBuilder, CompilesBomsRoutingsAndPerBucketArrays) {
  auto b = TwoSites();
  ItemRecord a{.item_id = "A", .site_id = "P1", .kind = ItemKind::kMake};
  ItemRecord c{.item_id = "C", .site_id = "P1"};
  b.AddItem(a);
  b.AddItem(c);
  b.SetBom("A", "P1", {{"C", 2.0, 0.1, 3, 7}});
  WorkCenterRecord wc{
      .work_center_id = "WC", .site_id = "P1", .efficiency = 0.0, .available_hours = {8, 8, -1}};
  b.AddWorkCenter(wc);
  b.SetRouting("A", "P1", {{20, "WC", 1.0, 0.5}, {10, "WC", 2.0, 0.25}});
  b.SetForecast("A", "P1", 4, 12.0);
  b.AddForecast("A", "P1", 4, 3.0);
  b.SetForecast("A", "P1", -2, 5.0);  // before bucket 0 → counts in bucket 0
  b.AddSalesOrder({"SO-1", "C", "OEM", 1, "A", "P1", -3, 7.0, 10.0});
  auto r = b.Build();
  const auto& s = r.snapshot;
  auto ia = *s.FindItemSite("A", "P1");
  ASSERT_EQ(s.Bom(ia).size(), 1u);
  EXPECT_EQ(s.Bom(ia)[0].component, *s.FindItemSite("C", "P1"));
  EXPECT_TRUE(s.Bom(ia)[0].EffectiveIn(3));
  EXPECT_FALSE(s.Bom(ia)[0].EffectiveIn(7));
  ASSERT_EQ(s.Routing(ia).size(), 2u);
  EXPECT_EQ(s.Routing(ia)[0].sequence, 10);      // sorted by sequence
  EXPECT_EQ(s.work_centers[0].efficiency, 1.0);  // 0 = unset = 1
  EXPECT_EQ(s.AvailableHours(WorkCenterIndex(0))[1], 8.0);
  EXPECT_EQ(s.AvailableHours(WorkCenterIndex(0))[2], 0.0);
  EXPECT_EQ(s.AvailableHours(WorkCenterIndex(0))[9], 0.0);
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "WC", "available_hours"));
  EXPECT_EQ(s.Forecast(ia)[4], 15.0);
  EXPECT_EQ(s.Forecast(ia)[0], 5.0);
  ASSERT_EQ(s.sales_orders.size(), 1u);
  EXPECT_EQ(s.sales_orders[0].due_bucket, 0);
}

TEST(ModelBuilder, BadMasterDataBecomesFindingsNamingItemAndField) {
  auto b = TwoSites();
  ItemRecord neg{
      .item_id = "NEG", .site_id = "P1", .lead_time = -2, .yield = 1.5, .frozen_fence = -1};
  neg.lot.rule = LotRule::kFixedOrderQuantity;  // without a quantity
  b.AddItem(neg);
  b.AddItem(ItemRecord{.item_id = "LOST", .site_id = "NOWHERE"});
  ItemRecord transfer{.item_id = "T",
                      .site_id = "DC1",
                      .kind = ItemKind::kTransfer,
                      .source_site_id = "P1"};  // T is not planned at P1
  b.AddItem(transfer);
  b.SetBom("NEG", "P1", {{"MISSING", 1.0, 0.0}, {"NEG", 0.0, 0.0}});
  b.AddSalesOrder({"SO-FAR", "C", "OEM", 1, "NEG", "P1", 10, 5.0, 1.0});
  auto r = b.Build();
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "NEG@P1", "lead_time"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "NEG@P1", "yield"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "NEG@P1", "frozen_fence"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "NEG@P1", "fixed_order_quantity"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "NEG@P1", "component_item_id"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "NEG@P1", "quantity_per"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "LOST@NOWHERE", "site_id"));
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "T@DC1", "source_site_id"));
  EXPECT_TRUE(HasFinding(r, FindingType::kOutsideHorizon, "NEG@P1", "due_bucket"));
  const auto& s = r.snapshot;
  auto neg_index = *s.FindItemSite("NEG", "P1");
  const auto& item = s.item_sites[static_cast<std::size_t>(neg_index.value())];
  EXPECT_EQ(item.lead_time, 0);
  EXPECT_EQ(item.yield, 1.0);
  EXPECT_EQ(item.lot.rule, LotRule::kLotForLot);
  EXPECT_TRUE(s.Bom(neg_index).empty());
  EXPECT_EQ(s.item_sites[static_cast<std::size_t>(s.FindItemSite("T", "DC1")->value())].kind,
            ItemKind::kBuy);
  EXPECT_TRUE(s.sales_orders.empty());
  auto message = std::find_if(r.findings.begin(), r.findings.end(),
                              [](const Finding& f) { return f.field == "component_item_id"; });
  EXPECT_NE(message->message.find("MISSING"), std::string::npos);
}

TEST(ModelBuilder, MaximumIsAlignedToTheOrderMultiple) {
  auto b = TwoSites();
  ItemRecord item{.item_id = "A", .site_id = "P1"};
  item.lot.multiple = 20;
  item.lot.maximum = 110;
  b.AddItem(item);
  auto r = b.Build();
  EXPECT_EQ(r.snapshot.item_sites[0].lot.maximum, 100.0);
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "A@P1", "maximum_order_quantity"));
}

TEST(ModelBuilder, LaterRecordsReplaceEarlierOnesAndCancelsKeepNothingOpen) {
  auto b = TwoSites();
  b.AddItem(ItemRecord{.item_id = "A", .site_id = "P1", .lead_time = 1});
  b.AddItem(ItemRecord{.item_id = "A", .site_id = "P1", .lead_time = 3});
  b.AddSalesOrder({"SO-1", "C", "OEM", 1, "A", "P1", 2, 5.0, 1.0});
  b.AddSalesOrder({"SO-1", "C", "OEM", 1, "A", "P1", 4, 9.0, 1.0});
  b.AddSalesOrder({"SO-2", "C", "OEM", 1, "A", "P1", 4, 9.0, 1.0});
  b.CancelSalesOrder("SO-2");
  b.SetOnHand("A", "P1", 10);
  b.AddOnHand("A", "P1", -4);
  auto r = b.Build();
  const auto& s = r.snapshot;
  EXPECT_EQ(s.item_sites[0].lead_time, 3);
  EXPECT_EQ(s.item_sites[0].on_hand, 6.0);
  ASSERT_EQ(s.sales_orders.size(), 2u);
  EXPECT_EQ(s.sales_orders[0].due_bucket, 4);
  EXPECT_EQ(s.sales_orders[0].quantity, 9.0);
  EXPECT_EQ(s.sales_orders[1].quantity, 0.0);
}

TEST(ModelSnapshot, ReplaceBomRebuildsTheCsrRows) {
  auto b = TwoSites();
  for (const char* id : {"A", "B", "C"}) b.AddItem(ItemRecord{.item_id = id, .site_id = "P1"});
  b.SetBom("A", "P1", {{"C", 1.0, 0.0}});
  b.SetBom("B", "P1", {{"C", 2.0, 0.0}});
  auto s = b.Build().snapshot;
  std::vector<BomLine> lines{{ItemSiteIndex(1), 3.0, 0.0}, {ItemSiteIndex(2), 4.0, 0.0}};
  s.ReplaceBom(ItemSiteIndex(0), lines);
  ASSERT_EQ(s.Bom(ItemSiteIndex(0)).size(), 2u);
  EXPECT_EQ(s.Bom(ItemSiteIndex(0))[1].quantity_per, 4.0);
  ASSERT_EQ(s.Bom(ItemSiteIndex(1)).size(), 1u);
  EXPECT_EQ(s.Bom(ItemSiteIndex(1))[0].quantity_per, 2.0);
  EXPECT_TRUE(s.Bom(ItemSiteIndex(2)).empty());
}

TEST(ModelSnapshot, BuilderOutputPassesTheInvariantCheckAndCorruptionIsNamed) {
  auto b = TwoSites();
  b.AddItem(ItemRecord{.item_id = "A", .site_id = "P1"});
  b.AddItem(ItemRecord{.item_id = "C", .site_id = "P1"});
  b.SetBom("A", "P1", {{"C", 1.0, 0.0}});
  b.AddSalesOrder({"SO-1", "C", "OEM", 1, "A", "P1", 2, 5.0, 1.0});
  auto s = b.Build().snapshot;
  ASSERT_TRUE(CheckSnapshot(s).has_value());
  auto bad_bucket = s;
  bad_bucket.sales_orders[0].due_bucket = 99;
  auto status = CheckSnapshot(bad_bucket);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("SO-1.due_bucket"), std::string::npos);
  auto bad_line = s;
  bad_line.bom_lines[0].component = ItemSiteIndex(7);
  EXPECT_FALSE(CheckSnapshot(bad_line).has_value());
  auto bad_yield = s;
  bad_yield.item_sites[0].yield = 0.0;
  status = CheckSnapshot(bad_yield);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("A@P1.yield"), std::string::npos);
}

TEST(ModelBuilder, HorizonLongerThanPegsCanStoreIsClampedAndNamed) {
  SnapshotBuilder b(Horizon{BucketKind::kWeek, kMaxBuckets + 1, 1, 2});
  b.AddSite({"P1", "Plant", SiteKind::kPlant});
  auto r = b.Build();
  EXPECT_EQ(r.snapshot.H(), 32767);
  EXPECT_TRUE(HasFinding(r, FindingType::kDataQuality, "planning_settings", "horizon_buckets"));
  ASSERT_TRUE(CheckSnapshot(r.snapshot).has_value());
  auto too_long = r.snapshot;
  too_long.horizon.buckets = 40000;
  auto status = CheckSnapshot(too_long);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("horizon.buckets"), std::string::npos);
  EXPECT_NE(status.error().message().find("40000"), std::string::npos);
}

TEST(ModelIdDictionary, InternsInOrderFindsAndKeepsIndicesWhileGrowing) {
  IdDictionary d;
  EXPECT_FALSE(d.Find("SO-1").has_value());  // empty table
  constexpr int kIds = 50'000;
  for (int i = 0; i < kIds; ++i) ASSERT_EQ(d.Intern("SO-" + std::to_string(i)), i);
  EXPECT_EQ(d.size(), kIds);
  EXPECT_EQ(d.Intern("SO-123"), 123);  // known: same index, nothing added
  EXPECT_EQ(d.size(), kIds);
  for (int i = 0; i < kIds; i += 7) {
    ASSERT_EQ(d.Find("SO-" + std::to_string(i)), i);
    ASSERT_EQ(d.Name(i), "SO-" + std::to_string(i));
  }
  EXPECT_FALSE(d.Find("SO-50000").has_value());
  EXPECT_FALSE(d.Find("").has_value());
  EXPECT_EQ(d.Intern(""), kIds);  // the empty id is an id like any other
  EXPECT_EQ(d.Find(""), kIds);
  IdDictionary copy = d;
  EXPECT_EQ(copy.Intern("new"), kIds + 1);
  EXPECT_FALSE(d.Find("new").has_value());
}

TEST(ModelText, FormatSubstitutesArgumentsInOrder) {
  EXPECT_EQ(Format("bucket {} qty {} of {}", 3, 2.5, std::string("A")), "bucket 3 qty 2.5 of A");
  EXPECT_EQ(Format("no args"), "no args");
}

}  // namespace
}  // namespace sop::model
