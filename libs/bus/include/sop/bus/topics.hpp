#pragma once
/// The versioned topic names of DESIGN.md, in one place so a typo is a compile error.

#include <array>
#include <string_view>

namespace sop::bus {

inline constexpr std::string_view kErpEventsTopic = "sop.erp.events.v1";
inline constexpr std::string_view kDeadLetterTopic = "sop.dlq.v1";
inline constexpr std::string_view kFactsTopic = "sop.facts.v1";
inline constexpr std::string_view kForecastTopic = "sop.forecast.v1";
inline constexpr std::string_view kPlanTopic = "sop.plan.v1";
inline constexpr std::string_view kCapacityTopic = "sop.capacity.v1";
inline constexpr std::string_view kExceptionsTopic = "sop.exceptions.v1";
inline constexpr std::string_view kWorkflowTopic = "sop.workflow.v1";

/// Every sopstream topic, e.g. for the embedded broker or a provisioning step.
inline constexpr std::array<std::string_view, 8> kAllTopics = {
    kErpEventsTopic, kDeadLetterTopic, kFactsTopic,      kForecastTopic,
    kPlanTopic,      kCapacityTopic,   kExceptionsTopic, kWorkflowTopic,
};

}  // namespace sop::bus
