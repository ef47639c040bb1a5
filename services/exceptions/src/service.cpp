#include "sop/exceptions/service.hpp"

#include <utility>

#include "sop/bus/topics.hpp"
#include "sop/runtime/config.hpp"
#include "sop/runtime/grpc_status.hpp"

namespace sop::exceptions {
namespace {

constexpr std::size_t kLogReadChunk = 1000;

}  // namespace

AckLog::AckLog(store::RedisStore& store, std::string name)
    : store_(store), name_(std::move(name)) {}

Status AckLog::Append(const Acknowledgement& acknowledgement) {
  auto appended = store_.Append(name_, acknowledgement.Encode());
  if (!appended) return std::unexpected(appended.error());
  return {};
}

Result<std::vector<Acknowledgement>> AckLog::ReadNew() {
  std::lock_guard lock(mutex_);
  std::vector<Acknowledgement> out;
  for (;;) {
    auto records = store_.Range(name_, next_, kLogReadChunk);
    if (!records) return std::unexpected(records.error());
    for (const std::string& record : *records) {
      auto ack = Acknowledgement::Decode(record);
      if (ack) {
        out.push_back(std::move(*ack));
      } else {
        ++corrupt_;
      }
    }
    next_ += records->size();
    if (records->size() < kLogReadChunk) break;
  }
  return out;
}

std::int64_t AckLog::corrupt() const {
  std::lock_guard lock(mutex_);
  return corrupt_;
}

ExceptionsGrpc::ExceptionsGrpc(StateAccess access, AckLog* log, runtime::Logger* logger, Clock now)
    : access_(std::move(access)), log_(log), logger_(logger), now_(std::move(now)) {}

Status ExceptionsGrpc::CatchUp() {
  if (log_ == nullptr) return {};
  auto acks = log_->ReadNew();
  if (!acks) return std::unexpected(acks.error());
  if (acks->empty()) return {};
  access_([&](ExceptionsState& state) {
    for (const auto& ack : *acks) state.book().Acknowledge(ack);
  });
  return {};
}

Result<sop::v1::ListExceptionsResponse> ExceptionsGrpc::List(
    const sop::v1::ListExceptionsRequest& request) {
  // Acknowledgements made elsewhere are shown as soon as Redis can be read; without Redis the
  // list is still served (with what this replica knows) rather than failing.
  if (auto caught_up = CatchUp(); !caught_up && logger_ != nullptr) {
    logger_->Warn("acknowledgement log not readable; serving known acknowledgements",
                  {{"error", caught_up.error().ToString()}});
  }
  Result<sop::v1::ListExceptionsResponse> result =
      Fail(Errc::kInternal, "ListExceptions: state not reached");
  access_([&](ExceptionsState& state) { result = state.book().List(request); });
  return result;
}

Result<sop::v1::AcknowledgeResponse> ExceptionsGrpc::Ack(
    const sop::v1::AcknowledgeRequest& request) {
  const auto now = now_();
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  Result<Acknowledgement> prepared = Fail(Errc::kInternal, "Acknowledge: state not reached");
  access_(
      [&](ExceptionsState& state) { prepared = state.book().PrepareAcknowledge(request, now_ms); });
  if (!prepared) return std::unexpected(prepared.error());
  // Durable first (outside the state's lock: Redis I/O), then visible.
  if (log_ != nullptr) {
    if (auto appended = log_->Append(*prepared); !appended) {
      return std::unexpected(appended.error());
    }
  }
  sop::v1::AcknowledgeResponse response;
  access_([&](ExceptionsState& state) {
    state.book().Acknowledge(*prepared);
    auto served = state.book().Get(prepared->exception_id);
    if (served) {
      *response.mutable_exception() = std::move(*served);
    } else {  // resolved meanwhile: the acknowledgement is kept all the same
      auto* e = response.mutable_exception();
      e->set_exception_id(prepared->exception_id);
      e->set_acknowledged_by(prepared->who);
      e->set_acknowledge_reason(prepared->reason);
      e->mutable_acknowledged_at()->set_seconds(prepared->at_unix_ms / 1000);
      e->mutable_acknowledged_at()->set_nanos(
          static_cast<std::int32_t>(prepared->at_unix_ms % 1000) * 1'000'000);
    }
  });
  if (logger_ != nullptr) {
    logger_->Info("exception acknowledged", {{"exception_id", prepared->exception_id},
                                             {"who", prepared->who},
                                             {"reason", prepared->reason}});
  }
  return response;
}

grpc::Status ExceptionsGrpc::ListExceptions(grpc::ServerContext*,
                                            const sop::v1::ListExceptionsRequest* request,
                                            sop::v1::ListExceptionsResponse* response) {
  return runtime::Reply(List(*request), response);
}

grpc::Status ExceptionsGrpc::Acknowledge(grpc::ServerContext*,
                                         const sop::v1::AcknowledgeRequest* request,
                                         sop::v1::AcknowledgeResponse* response) {
  return runtime::Reply(Ack(*request), response);
}

ExceptionsService::ExceptionsService(StateOptions state_options, store::RedisStoreOptions redis,
                                     runtime::MetricsRegistry& metrics)
    : state_(std::move(state_options), &metrics),
      ack_store_(std::move(redis)),
      ack_log_(ack_store_) {}

Result<std::unique_ptr<ExceptionsService>> ExceptionsService::Start(
    host::HostOptions host_options, StateOptions state_options, runtime::Logger& logger,
    runtime::MetricsRegistry& metrics) {
  if (host_options.topics.empty()) {
    host_options.topics = {state_options.facts_topic, state_options.forecast_topic};
  }
  host_options.co_partitioned = true;  // a site's facts and forecasts on the same replica
  std::unique_ptr<ExceptionsService> service(
      new ExceptionsService(std::move(state_options), host_options.redis, metrics));
  ExceptionsService& self = *service;
  self.grpc_ = std::make_unique<ExceptionsGrpc>(
      [&self](const std::function<void(ExceptionsState&)>& fn) { self.WithState(fn); },
      &self.ack_log_, &logger);
  auto started =
      host::PartitionedHost::Start(std::move(host_options), self.state_, logger, metrics);
  if (!started) return std::unexpected(started.error());
  self.host_ = std::move(*started);
  // A background full detection is merged and published under the host's lock as soon as it is
  // ready. MarkDirty wakes the host's waiters (their pending state changed); the partition is
  // snapshotted at the next batch end (same content).
  self.state_.set_detection_ready([&self] {
    self.host_->WithState([&](host::PartitionedHost::Locked& locked) {
      locked.Publish(self.state_.TakeDetected());
      for (const host::PartitionKey& key : self.state_.partitions()) {
        if (locked.Owns(key)) {
          locked.MarkDirty(key);
          break;
        }
      }
    });
  });
  // The acknowledgements so far (a replica restarting shows them at once); if Redis is not
  // reachable yet, the first query catches up.
  if (auto caught_up = self.grpc_->CatchUp(); !caught_up) {
    logger.Warn("acknowledgement log not readable at start; caught up at the first query",
                {{"error", caught_up.error().ToString()}});
  }
  return service;
}

ExceptionsService::~ExceptionsService() {
  Stop();
}

void ExceptionsService::Stop() {
  // The worker first (its result is merged by the host's final batch, which then detects in
  // place): nothing calls into the host after it stopped.
  state_.StopBackground();
  if (host_) host_->Stop(/*final_snapshot=*/true);
}

void ExceptionsService::Crash() {
  state_.StopBackground();
  if (host_) host_->Stop(/*final_snapshot=*/false);
}

void ExceptionsService::WithState(const std::function<void(ExceptionsState&)>& fn) {
  host_->WithState([&](host::PartitionedHost::Locked&) { fn(state_); });
}

host::ServiceSpec ExceptionsServiceSpec() {
  host::ServiceSpec spec;
  spec.binary = "sop-exceptions";
  spec.service = "exceptions";
  spec.grpc_service_names = {"sop.v1.Exceptions"};
  spec.grpc_port = 50055;
  spec.metrics_port = 9465;
  spec.group_id = "sop-exceptions";
  spec.add_settings = [](runtime::ConfigSchema& schema) {
    schema.Add(runtime::SettingSpec::Int("exceptions.max-affected-demands",
                                         "Sales orders listed per published exception (largest "
                                         "revenue first; customer_ids lists every customer).")
                   .Default("10")
                   .Min("1")
                   .Max("1000"));
    schema.Add(runtime::SettingSpec::Bool("exceptions.background-detection",
                                          "Run the full detection on a copy of the plan outside "
                                          "the state's lock (false: at the batch end, in place).")
                   .Default("true"));
    schema.Add(runtime::SettingSpec::Duration(
                   "exceptions.full-detection.interval",
                   "Background detection: least time between the starts of two full detections "
                   "(bounds its CPU under steady load; 0s: back to back).")
                   .Default("1s")
                   .Min("0s")
                   .Max("60s"));
    schema.Add(runtime::SettingSpec::Int("exceptions.max-upserts-per-delta",
                                         "Exceptions per published ExceptionDelta message.")
                   .Default("200")
                   .Min("1")
                   .Max("5000"));
    schema.Add(runtime::SettingSpec::Double(
                   "exceptions.score.reference-percentile",
                   "Score references: this percentile of a full detection's positive revenue, "
                   "margin and end demands (0: the fixed references).")
                   .Default("0.9")
                   .Min("0")
                   .Max("1"));
    schema.Add(runtime::SettingSpec::Bool("exceptions.follow-orders-at-risk",
                                          "Re-detect orders at risk with the net change that "
                                          "moves them (false: at the full detection).")
                   .Default("true"));
    schema.Add(runtime::SettingSpec::Bool("exceptions.follow-capacity",
                                          "Re-detect capacity overloads and bottlenecks with the "
                                          "net change that moves their load (false: at the full "
                                          "detection).")
                   .Default("true"));
  };
  spec.start = [](host::ServiceContext& context) -> Result<std::unique_ptr<host::RunningService>> {
    StateOptions options;
    options.book.max_affected_demands =
        static_cast<std::size_t>(context.config.GetInt("exceptions.max-affected-demands"));
    options.book.max_upserts_per_delta =
        static_cast<std::size_t>(context.config.GetInt("exceptions.max-upserts-per-delta"));
    options.background_detection = context.config.GetBool("exceptions.background-detection");
    options.book.reference_percentile =
        context.config.GetDouble("exceptions.score.reference-percentile");
    options.book.follow_orders_at_risk = context.config.GetBool("exceptions.follow-orders-at-risk");
    options.book.follow_capacity = context.config.GetBool("exceptions.follow-capacity");
    options.full_detection_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
        context.config.GetDuration("exceptions.full-detection.interval"));
    context.host.topics = {std::string(bus::kFactsTopic), std::string(bus::kForecastTopic)};
    auto service =
        ExceptionsService::Start(context.host, std::move(options), context.logger, context.metrics);
    if (!service) return std::unexpected(service.error());
    return std::unique_ptr<host::RunningService>(std::move(*service));
  };
  return spec;
}

}  // namespace sop::exceptions
