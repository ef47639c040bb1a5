// sopctl plan ITEM SITE: the MRP record of one item-site with planned orders and their pegging
// (Mrp.GetPlan).

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "sop/sopctl/command.hpp"
#include "sop/v1/mrp.grpc.pb.h"

namespace sop::sopctl {
namespace {

constexpr std::string_view kName = "plan";
constexpr std::string_view kUsage = "sopctl plan ITEM SITE [--json]";

// "120" for whole quantities, "12.50" otherwise: numbers a planner can add up by hand.
std::string Money(double value) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return buffer;
}

std::string Value(const google::protobuf::RepeatedField<double>& values, int t) {
  return t < values.size() ? Quantity(values.Get(t)) : "-";
}

std::string EndDemand(const sop::v1::EndDemandPeg& peg) {
  std::string text;
  switch (peg.kind()) {
    case sop::v1::END_DEMAND_KIND_SALES_ORDER:
      text = "order " + (peg.order_id().empty() ? std::string("?") : peg.order_id());
      break;
    case sop::v1::END_DEMAND_KIND_FORECAST:
      text = "forecast";
      break;
    default:
      text = "demand";
      break;
  }
  text += " " + peg.item_id() + "@" + peg.site_id() + " B" + std::to_string(peg.bucket());
  return text;
}

int Run(CommandContext& context) {
  sop::v1::GetPlanRequest request;
  for (const std::string& arg : context.args) {
    if (arg == "--json") {
      context.json = true;
    } else if (!arg.starts_with("--") && request.item_id().empty()) {
      request.set_item_id(arg);
    } else if (!arg.starts_with("--") && request.site_id().empty()) {
      request.set_site_id(arg);
    } else {
      context.err << "sopctl plan: unexpected argument '" << arg << "'\nusage: " << kUsage << "\n";
      return kExitUsage;
    }
  }
  if (request.item_id().empty() || request.site_id().empty()) {
    context.err << "sopctl plan: ITEM and SITE are required\nusage: " << kUsage << "\n";
    return kExitUsage;
  }

  auto stub = sop::v1::Mrp::NewStub(context.Channel("mrp"));
  grpc::ClientContext call;
  call.set_deadline(context.Deadline());
  sop::v1::GetPlanResponse response;
  const grpc::Status status = stub->GetPlan(&call, request, &response);
  if (!status.ok()) {
    return context.Failed(kName, "GetPlan at " + context.services.at("mrp").address +
                                     " failed: " + StatusText(status));
  }

  if (context.json) {
    return PrintJson(context, kName, response);
  }

  const sop::v1::ItemSitePlan& plan = response.plan();
  context.out << "item " << plan.item_id() << " at " << plan.site_id() << ", family "
              << (plan.family().empty() ? "-" : plan.family()) << ", low-level code "
              << plan.low_level_code() << ", on hand " << Quantity(plan.on_hand())
              << ", safety stock " << Quantity(plan.safety_stock()) << ", plan version "
              << response.plan_version() << "\n";

  const int horizon = std::max({plan.gross_requirements_size(), plan.scheduled_receipts_size(),
                                plan.projected_available_size(), plan.net_requirements_size(),
                                plan.planned_receipts_size(), plan.planned_releases_size()});
  std::vector<std::vector<std::string>> buckets;
  for (int t = 0; t < horizon; ++t) {
    buckets.push_back({std::to_string(t), Value(plan.gross_requirements(), t),
                       Value(plan.scheduled_receipts(), t), Value(plan.projected_available(), t),
                       Value(plan.net_requirements(), t), Value(plan.planned_receipts(), t),
                       Value(plan.planned_releases(), t)});
  }
  PrintTable(context.out,
             {"BUCKET", "GROSS_REQ", "SCHEDULED_RECEIPTS", "PROJECTED_AVAILABLE", "NET_REQ",
              "PLANNED_RECEIPTS", "PLANNED_RELEASES"},
             buckets);

  if (plan.planned_orders().empty()) {
    context.out << "\nno planned orders\n";
  } else {
    context.out << "\nplanned orders (" << plan.planned_orders_size() << ") and their pegging:\n";
    std::vector<std::vector<std::string>> orders;
    int number = 0;
    for (const auto& order : plan.planned_orders()) {
      ++number;
      std::vector<std::string> head{std::to_string(number),
                                    std::to_string(order.release_bucket()),
                                    std::to_string(order.receipt_bucket()),
                                    Quantity(order.release_quantity()),
                                    Quantity(order.quantity()),
                                    order.past_due() ? "yes" : "no"};
      if (order.pegging().empty()) {
        head.insert(head.end(), {"-", "-", "-", "-"});
        orders.push_back(std::move(head));
        continue;
      }
      bool first = true;
      for (const auto& peg : order.pegging()) {
        std::vector<std::string> row =
            first ? head : std::vector<std::string>{"", "", "", "", "", ""};
        first = false;
        row.insert(row.end(), {EndDemand(peg), peg.customer_id().empty() ? "-" : peg.customer_id(),
                               Quantity(peg.quantity()), Money(peg.revenue())});
        orders.push_back(std::move(row));
      }
    }
    PrintTable(context.out,
               {"#", "RELEASE_B", "RECEIPT_B", "RELEASE_QTY", "RECEIPT_QTY", "PAST_DUE",
                "END_DEMAND", "CUSTOMER", "PEG_QTY", "REVENUE"},
               orders);
  }

  if (!plan.findings().empty()) {
    context.out << "\nfindings (" << plan.findings_size() << "):\n";
    std::vector<std::vector<std::string>> findings;
    for (const auto& f : plan.findings()) {
      std::string type = sop::v1::FindingType_Name(f.type());
      if (type.starts_with("FINDING_TYPE_")) type.erase(0, 13);
      findings.push_back({type, f.bucket() < 0 ? "-" : std::to_string(f.bucket()),
                          Quantity(f.quantity()), f.message()});
    }
    PrintTable(context.out, {"TYPE", "BUCKET", "QUANTITY", "MESSAGE"}, findings);
  }
  return kExitOk;
}

const CommandRegistrar kRegistered{Command{
    .name = std::string(kName),
    .summary = "the MRP record of an item-site per bucket, planned orders with their pegging",
    .usage = std::string(kUsage),
    .run = Run}};

}  // namespace
}  // namespace sop::sopctl
