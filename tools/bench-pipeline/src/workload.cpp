#include "workload.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "sop/gen/generator.hpp"
#include "sop/v1/events.pb.h"

namespace sop::bench {

Result<std::vector<sop::v1::Envelope>> GenerateS(std::uint64_t seed, int history_weeks) {
  gen::GeneratorOptions options;
  options.scale = gen::Scale::kS;
  options.seed = seed;
  options.history_weeks = history_weeks;
  return gen::GenerateAll(options);
}

std::vector<Record> Serialized(const std::vector<sop::v1::Envelope>& envelopes) {
  std::vector<Record> records;
  records.reserve(envelopes.size());
  for (const auto& envelope : envelopes) {
    records.push_back({envelope.site(), envelope.SerializeAsString()});
  }
  return records;
}

std::vector<Record> Cycled(const std::vector<sop::v1::Envelope>& envelopes, std::size_t count) {
  std::vector<Record> records;
  if (envelopes.empty()) return records;
  records.reserve(count);
  sop::v1::Envelope copy;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t cycle = i / envelopes.size();
    const auto& envelope = envelopes[i % envelopes.size()];
    if (cycle == 0) {
      records.push_back({envelope.site(), envelope.SerializeAsString()});
      continue;
    }
    copy = envelope;
    copy.set_event_id(envelope.event_id() + "#r" + std::to_string(cycle));
    records.push_back({copy.site(), copy.SerializeAsString()});
  }
  return records;
}

const char* ToString(ChangeKind kind) noexcept {
  switch (kind) {
    case ChangeKind::kSalesOrder:
      return "sales_order";
    case ChangeKind::kGoodsReceipt:
      return "goods_receipt";
    case ChangeKind::kShipment:
      return "shipment";
  }
  return "?";
}

namespace {

struct OpenPurchase {
  sop::v1::PurchaseOrder order;
  std::string site;
  double received = 0;  // by this run's receipts
};

bool IsOpen(sop::v1::OrderStatus status) {
  return status == sop::v1::ORDER_STATUS_OPEN || status == sop::v1::ORDER_STATUS_UNSPECIFIED;
}

}  // namespace

Result<std::vector<Change>> MakeChanges(const std::vector<sop::v1::Envelope>& envelopes,
                                        std::size_t count, std::uint64_t seed) {
  // The latest state of each open line (an order may be re-sent by the generator).
  std::vector<sop::v1::SalesOrder> sales;
  std::vector<OpenPurchase> purchases;
  std::int64_t latest_seconds = 0;
  for (const auto& envelope : envelopes) {
    latest_seconds = std::max(latest_seconds, envelope.occurred_at().seconds());
    if (envelope.has_sales_order() && IsOpen(envelope.sales_order().status()) &&
        envelope.sales_order().quantity() > 0) {
      sales.push_back(envelope.sales_order());
    } else if (envelope.has_purchase_order() && IsOpen(envelope.purchase_order().status()) &&
               envelope.purchase_order().quantity() > 1) {
      purchases.push_back({envelope.purchase_order(), envelope.site(), 0});
    }
  }
  if (sales.empty() || purchases.empty()) {
    return Fail(Errc::kFailedPrecondition,
                "the generated instance has " + std::to_string(sales.size()) +
                    " open sales-order lines and " + std::to_string(purchases.size()) +
                    " open purchase-order lines; the latency run needs both");
  }
  // Changes happen "now": just after the newest event of the instance.
  google::protobuf::Timestamp now;
  now.set_seconds(latest_seconds + 3600);

  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto pick = [&](std::size_t size) {
    return static_cast<std::size_t>(unit(random) * static_cast<double>(size)) % size;
  };

  std::vector<Change> changes;
  changes.reserve(count);
  sop::v1::Envelope envelope;
  for (std::size_t n = 0; n < count; ++n) {
    const double roll = unit(random);
    Change change;
    envelope.Clear();
    envelope.set_source_system("sop-bench-pipeline");
    *envelope.mutable_occurred_at() = now;
    *envelope.mutable_produced_at() = now;
    if (roll < 0.4) {
      change.kind = ChangeKind::kSalesOrder;
      auto& line = sales[pick(sales.size())];
      const double factor = 0.6 + unit(random);
      line.set_quantity(std::max(1.0, std::round(line.quantity() * factor)));
      *envelope.mutable_sales_order() = line;
      envelope.set_site(line.site_id());
    } else if (roll < 0.7) {
      change.kind = ChangeKind::kGoodsReceipt;
      // A line with room left (at most half of its open quantity received by this run).
      OpenPurchase* purchase = nullptr;
      for (int attempt = 0; attempt < 32 && purchase == nullptr; ++attempt) {
        auto& candidate = purchases[pick(purchases.size())];
        if (candidate.received < 0.5 * candidate.order.quantity()) purchase = &candidate;
      }
      if (purchase == nullptr) purchase = &purchases[pick(purchases.size())];
      const double share = 0.01 + 0.02 * unit(random);
      const double quantity = std::max(
          1.0, std::min(std::floor(purchase->order.quantity() * share),
                        std::floor(0.5 * purchase->order.quantity() - purchase->received)));
      purchase->received += quantity;
      auto* receipt = envelope.mutable_goods_receipt();
      receipt->set_receipt_id("bench-gr-" + std::to_string(n));
      receipt->set_po_id(purchase->order.po_id());
      receipt->set_line(purchase->order.line());
      receipt->set_supplier_id(purchase->order.supplier_id());
      receipt->set_item_id(purchase->order.item_id());
      receipt->set_site_id(purchase->order.site_id());
      receipt->set_quantity(quantity);
      *receipt->mutable_received_at() = now;
      envelope.set_site(purchase->order.site_id());
    } else {
      change.kind = ChangeKind::kShipment;
      const auto& line = sales[pick(sales.size())];
      auto* shipment = envelope.mutable_shipment();
      shipment->set_shipment_id("bench-sh-" + std::to_string(n));
      shipment->set_order_id(line.order_id());
      shipment->set_line(line.line());
      shipment->set_customer_id(line.customer_id());
      shipment->set_channel(line.channel());
      shipment->set_item_id(line.item_id());
      shipment->set_site_id(line.site_id());
      shipment->set_quantity(1.0 + std::floor(5.0 * unit(random)));
      *shipment->mutable_shipped_at() = now;
      *shipment->mutable_due_date() = line.due_date();
      shipment->set_unit_price(line.unit_price());
      envelope.set_site(line.site_id());
    }
    change.event_id = std::string("bench:") + ToString(change.kind) + ":" + std::to_string(n);
    envelope.set_event_id(change.event_id);
    change.record = {envelope.site(), envelope.SerializeAsString()};
    changes.push_back(std::move(change));
  }
  return changes;
}

}  // namespace sop::bench
