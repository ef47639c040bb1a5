#pragma once
/// The exceptions service's ranked list, without any I/O.
///
/// ExceptionBook turns the decision core's results into what the service publishes and serves:
/// a full detection (`Refresh`: DetectExceptions on the engine, its rough-cut and the detection
/// history) or an incremental one after net change (`Update`: DetectItemSiteExceptions on the
/// re-netted item-sites) is scored and merged into one planning::Ranker; each exception is
/// converted once into a sop.v1.PlanningException (site, item, family, work center, customers,
/// affected demands with revenue, score components, explanation); and what appeared, changed
/// (score, severity or quantity) or disappeared becomes sop.v1.ExceptionDelta messages, one per
/// site. Queries (ListExceptions: filters, top N, cursor paging) read the ranked list;
/// acknowledgements (who, why, when) are kept by exception id.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/v1/exceptions.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::exceptions {

/// The percentile the service scales its score references to (BookOptions::reference_percentile).
inline constexpr double kDefaultReferencePercentile = 0.9;

/// Whether the service follows ORDER_AT_RISK through net change
/// (BookOptions::follow_orders_at_risk).
inline constexpr bool kDefaultFollowOrdersAtRisk = true;

/// Whether the service follows CAPACITY_OVERLOAD and BOTTLENECK through net change
/// (BookOptions::follow_capacity).
inline constexpr bool kDefaultFollowCapacity = true;

/// Thresholds, weights and message bounds of the book.
struct BookOptions {
  planning::DetectionPolicy detection;
  /// The weights and the fixed references; with `reference_percentile` > 0 the revenue, margin
  /// and breadth references are replaced by the book's scaled ones.
  planning::RankingWeights weights;
  /// Scaled score references (planning::ScaleReferences): a full detection's revenue, margin and
  /// breadth references are this percentile (nearest rank, in (0, 1]) of its positive values, so
  /// the top scores spread instead of saturating at 1.00. 0 = the fixed references of `weights`.
  /// The service sets kDefaultReferencePercentile.
  double reference_percentile = 0.0;
  /// The references in use change only on the first full detection (after construction or
  /// Clear) and on a full detection whose percentile moved by more than this fraction of the
  /// reference in use: new references re-score every exception, which publishes an upsert for
  /// each. Incremental updates always score with the references in use.
  double reference_tolerance = 0.10;
  /// ORDER_AT_RISK follows net change: with a MaterialRedetector passed to Update or Merge, the
  /// redetector follows the orders at risk (MaterialRedetector::FollowOrdersAtRisk) and Update
  /// upserts and resolves those a change rebuilt, so an order at risk no longer waits for the
  /// next full detection. false: ORDER_AT_RISK comes from full detections only. The service sets
  /// kDefaultFollowOrdersAtRisk.
  bool follow_orders_at_risk = false;
  /// CAPACITY_OVERLOAD and BOTTLENECK follow net change: with a MaterialRedetector passed to
  /// Update or Merge, the redetector follows the rough-cut load
  /// (MaterialRedetector::FollowCapacity) and Update upserts and resolves the capacity
  /// exceptions of the work centers a change re-loaded (or whose traced orders it re-pegged), so
  /// they no longer wait for the next full detection. false: from full detections only. The
  /// service sets kDefaultFollowCapacity.
  bool follow_capacity = false;
  /// Affected demands (sales orders) carried per published exception, largest revenue first;
  /// `customer_ids`, `end_demands` and `revenue_at_risk` always count all of them.
  std::size_t max_affected_demands = 10;
  /// Upserts per published ExceptionDelta (a full detection of a site is split into several).
  std::size_t max_upserts_per_delta = 200;
  /// Default and largest ListExceptions page.
  std::int32_t default_page_size = 50;
  std::int32_t max_page_size = 1000;
};

/// An acknowledgement of one exception by a person (kept with the id; survives the exception
/// disappearing and coming back).
struct Acknowledgement {
  std::string exception_id;
  std::string who;
  std::string reason;
  std::int64_t at_unix_ms = 0;

  /// One line of the acknowledgement log (a sop.v1.PlanningException carrying only the id and
  /// the acknowledgement fields, serialized).
  std::string Encode() const;
  /// DATA_LOSS when the bytes are not an encoded acknowledgement.
  static Result<Acknowledgement> Decode(std::string_view bytes);
};

/// Wall time of the last detection and ranking, for the service's histograms.
struct BookTimings {
  double detect_seconds = 0.0;
  double rank_seconds = 0.0;
};

/// Open exceptions by (type, severity, site id), for the `open` gauge.
using OpenCounts =
    std::map<std::tuple<sop::v1::ExceptionType, sop::v1::Severity, std::string>, std::int64_t>;

/// planning::ExceptionType → sop.v1.ExceptionType (SHORTAGE → PROJECTED_SHORTAGE,
/// SHARED_COMPONENT → CONSTRAINED_COMPONENT, the rest by name).
sop::v1::ExceptionType ToProto(planning::ExceptionType type) noexcept;
sop::v1::Severity ToProto(planning::Severity severity) noexcept;

/// Converts one scored exception of `engine`'s snapshot (see the file comment).
sop::v1::PlanningException ToProto(const planning::Exception& exception,
                                   const planning::NettingEngine& engine,
                                   std::size_t max_affected_demands);

/// A full detection computed apart from the book (e.g. on an immutable copy of the plan, outside
/// the service's mutex): the scored exceptions and their protos, in the same order.
struct FullDetection {
  std::vector<planning::Exception> exceptions;
  std::vector<sop::v1::PlanningException> protos;
  /// The weights the scores use: `options.weights` with the references scaled to this
  /// detection's percentile (BookOptions::reference_percentile > 0).
  planning::RankingWeights weights;
  BookTimings timings;
};

/// DetectExceptions on `engine`, `capacity` and `history`, scored with `options.weights` and
/// converted. Pure: safe on shared const inputs from any thread.
FullDetection DetectFull(const BookOptions& options, const planning::NettingEngine& engine,
                         const planning::CapacityPlan& capacity,
                         const planning::DetectionHistory& history);

/// The ranked exceptions of one replica (see the file comment).
///
/// Threads: not synchronised; the service serializes every call (the host's mutex).
/// Errors: queries give INVALID_ARGUMENT naming the field and the value (page size, top,
/// page token, types, severity, empty `who`) and NOT_FOUND for an unknown exception id.
/// Lifetime: plain object; holds no reference to the engine between calls.
class ExceptionBook {
 public:
  explicit ExceptionBook(BookOptions options = {});

  /// Replaces the list with a full detection. Returns the deltas of what appeared, changed or
  /// disappeared since the previous list (every exception the first time), each carrying `cause`.
  std::vector<sop::v1::ExceptionDelta> Refresh(const planning::NettingEngine& engine,
                                               const planning::CapacityPlan& capacity,
                                               const planning::DetectionHistory& history,
                                               const sop::v1::Cause& cause);
  /// Replaces the list with `full` (a DetectFull that may be older than the book), except for
  /// the material exceptions of `redetect` (item-sites net change re-netted since `full`'s plan),
  /// which are re-detected on `engine` (the current plan; required when `redetect` is not
  /// empty), so a stale full result never overwrites newer net-change results. Returns the
  /// deltas of what appeared, changed or disappeared, each carrying `cause`. `redetector`
  /// (optional) follows `engine` (see Update) and does the re-detection; with
  /// BookOptions::follow_orders_at_risk its ORDER_AT_RISK exceptions (the current plan's)
  /// replace the full result's; with BookOptions::follow_capacity so do its CAPACITY_OVERLOAD
  /// and BOTTLENECK ones.
  std::vector<sop::v1::ExceptionDelta> Merge(FullDetection full,
                                             const planning::NettingEngine* engine,
                                             std::span<const model::ItemSiteIndex> redetect,
                                             const sop::v1::Cause& cause,
                                             planning::MaterialRedetector* redetector = nullptr);
  /// Re-detects the material exceptions of the item-sites a net change re-netted, re-scoring
  /// only those (capacity, forecast and supplier exceptions wait for the next Refresh). Returns
  /// the deltas of what changed. With `redetector` (bound to `engine`, told of every net change
  /// of it in order, this one included: the caller passes each change here or to its Forget)
  /// the end-demand reach of unchanged planned orders is reused between changes instead of
  /// walked anew (same exceptions as without); with it and BookOptions::follow_orders_at_risk,
  /// the ORDER_AT_RISK exceptions of the sales orders the change can affect are upserted or
  /// resolved too (the first call with a redetector that does not follow them yet reconciles
  /// every order at risk of the book with it); with it and BookOptions::follow_capacity the
  /// capacity exceptions of the work centers the change re-loaded are upserted or resolved too
  /// (reconciled the same way on the first call). Without a redetector, order-at-risk and
  /// capacity exceptions wait for the next Refresh.
  std::vector<sop::v1::ExceptionDelta> Update(const planning::NettingEngine& engine,
                                              std::span<const model::ItemSiteIndex> item_sites,
                                              const sop::v1::Cause& cause,
                                              planning::MaterialRedetector* redetector = nullptr);
  /// Forgets every exception (no plan any more). Returns the removals to publish.
  std::vector<sop::v1::ExceptionDelta> Clear(const sop::v1::Cause& cause);

  /// ListExceptions: filters, top N, pages (see exceptions.proto and README.md).
  Result<sop::v1::ListExceptionsResponse> List(const sop::v1::ListExceptionsRequest& request) const;

  /// Checks an acknowledgement request: INVALID_ARGUMENT for an empty exception id or `who`,
  /// NOT_FOUND for an id that is not open. Returns the acknowledgement to record.
  Result<Acknowledgement> PrepareAcknowledge(const sop::v1::AcknowledgeRequest& request,
                                             std::int64_t now_unix_ms) const;
  /// Records an acknowledgement (a later one for the same id replaces it).
  void Acknowledge(const Acknowledgement& acknowledgement);
  /// The exception as served now (with its acknowledgement and rank); NOT_FOUND if not open.
  Result<sop::v1::PlanningException> Get(std::string_view exception_id) const;

  const planning::Ranker& ranker() const noexcept { return ranker_; }
  std::size_t size() const noexcept { return ranker_.size(); }
  const std::unordered_map<std::string, Acknowledgement>& acknowledgements() const noexcept {
    return acks_;
  }
  OpenCounts Counts() const;
  const BookTimings& timings() const noexcept { return timings_; }
  /// The weights every exception is scored with now (scaled references once a full detection
  /// set them; see BookOptions::reference_percentile).
  const planning::RankingWeights& weights() const noexcept { return weights_; }

 private:
  /// Records the new proto of an exception; true when it must be published (new or changed).
  bool Store(sop::v1::PlanningException proto);
  void Decorate(sop::v1::PlanningException& proto) const;
  std::vector<sop::v1::ExceptionDelta> MakeDeltas(const std::vector<std::string>& upserted,
                                                  std::vector<sop::v1::PlanningException> removed,
                                                  const sop::v1::Cause& cause) const;

  /// Takes a full detection's references when they are the first or moved beyond the
  /// tolerance; true when the references in use changed.
  bool AdoptReferences(const planning::RankingWeights& detected);

  BookOptions options_;
  planning::RankingWeights weights_;  ///< scores use these (ranker_ too)
  bool references_set_ = false;       ///< weights_ hold a full detection's references
  planning::Ranker ranker_;
  std::unordered_map<std::string, sop::v1::PlanningException> protos_;
  std::unordered_map<std::string, Acknowledgement> acks_;
  BookTimings timings_;
};

}  // namespace sop::exceptions
