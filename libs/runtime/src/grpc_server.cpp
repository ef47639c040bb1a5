#include "sop/runtime/grpc_server.hpp"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/support/server_interceptor.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "file_util.hpp"

namespace sop::runtime {
namespace detail {

// Calls between arrival and completion, so that shutdown knows when only idle connections are
// left. Health Watch streams are left out: they last as long as the watcher wants.
struct CallTracker {
  std::mutex mutex;
  std::condition_variable changed;
  int in_flight = 0;

  void Begin() {
    std::lock_guard lock(mutex);
    ++in_flight;
  }
  void End() {
    {
      std::lock_guard lock(mutex);
      --in_flight;
    }
    changed.notify_all();
  }
};

}  // namespace detail

namespace {

// Plaintext credentials that accept an AuthMetadataProcessor: gRPC core's insecure server
// credentials run the server auth filter (grpc::InsecureServerCredentials() asserts instead).
class PlaintextCredentialsWithProcessor final : public grpc::ServerCredentials {
 public:
  explicit PlaintextCredentialsWithProcessor(std::shared_ptr<grpc::AuthMetadataProcessor> processor)
      : core_(grpc_insecure_server_credentials_create()) {
    auto* state = new std::shared_ptr<grpc::AuthMetadataProcessor>(std::move(processor));
    grpc_server_credentials_set_auth_metadata_processor(core_, {&Process, &Destroy, state});
  }
  ~PlaintextCredentialsWithProcessor() override { grpc_server_credentials_release(core_); }

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // Set once in the constructor; the builder never calls this.
  }

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    return grpc_server_add_http2_port(server, address.c_str(), core_);
  }

  static grpc::string_ref Ref(const grpc_slice& slice) {
    return {reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)), GRPC_SLICE_LENGTH(slice)};
  }

  static void Process(void* state, grpc_auth_context* /*context*/, const grpc_metadata* metadata,
                      std::size_t count, grpc_process_auth_metadata_done_cb done, void* user_data) {
    auto& processor = *static_cast<std::shared_ptr<grpc::AuthMetadataProcessor>*>(state);
    grpc::AuthMetadataProcessor::InputMetadata input;
    for (std::size_t i = 0; i < count; ++i) {
      input.emplace(Ref(metadata[i].key), Ref(metadata[i].value));
    }
    grpc::AuthMetadataProcessor::OutputMetadata consumed;
    grpc::AuthMetadataProcessor::OutputMetadata response;
    const grpc::Status status = processor->Process(input, nullptr, &consumed, &response);
    // gRPC copies the message before `done` returns.
    done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.error_code()),
         status.ok() ? nullptr : status.error_message().c_str());
  }

  static void Destroy(void* state) {
    delete static_cast<std::shared_ptr<grpc::AuthMetadataProcessor>*>(state);
  }

  grpc_server_credentials* core_;
};

constexpr std::string_view kHealthWatch = "/grpc.health.v1.Health/Watch";

// The RED families, registered once per registry (adding the same declaration twice returns
// the same family, so several servers in one process share them).
struct RedMetrics {
  CounterFamily requests;
  HistogramFamily duration;

  explicit RedMetrics(MetricsRegistry& registry)
      : requests(registry.AddCounter({"sop_grpc_server_requests_total",
                                      "gRPC calls finished, by full method name and status code.",
                                      {"method", "code"},
                                      400})),
        duration(registry.AddHistogram(
            {"sop_grpc_server_request_duration_seconds",
             "gRPC call duration from arrival to status, by full method name.",
             {"method"},
             200})) {}
};

// One per call: starts the clock when the call arrives and records when the status is sent.
// A call that ends without sending a status (the client went away) is recorded as CANCELLED
// when gRPC destroys the interceptor.
class RedInterceptor final : public grpc::experimental::Interceptor {
 public:
  RedInterceptor(const RedMetrics& metrics, detail::CallTracker& calls, std::string method)
      : metrics_(metrics),
        calls_(calls),
        method_(std::move(method)),
        tracked_(method_ != kHealthWatch),
        start_(std::chrono::steady_clock::now()) {
    if (tracked_) calls_.Begin();
  }

  ~RedInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
    if (tracked_) calls_.End();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    metrics_.requests.WithLabels({method_, GrpcCodeName(static_cast<int>(code))}).Increment();
    metrics_.duration.WithLabels({method_}).ObserveDuration(elapsed);
  }

  const RedMetrics& metrics_;
  detail::CallTracker& calls_;
  std::string method_;
  bool tracked_;
  std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class RedInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RedInterceptorFactory(std::shared_ptr<const RedMetrics> metrics,
                        std::shared_ptr<detail::CallTracker> calls)
      : metrics_(std::move(metrics)), calls_(std::move(calls)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    return new RedInterceptor(*metrics_, *calls_, method != nullptr ? method : "unknown");
  }

 private:
  std::shared_ptr<const RedMetrics> metrics_;
  std::shared_ptr<detail::CallTracker> calls_;
};

Result<std::string> ReadFile(std::string_view setting, const std::string& path) {
  auto content = detail::ReadWholeFile(path);
  if (!content) return InvalidField(setting, "cannot read file", path);
  return std::move(*content);
}

// Health and reflection are process-wide switches in gRPC; flip them once, before any build.
void EnableHealthAndReflectionOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
}

}  // namespace

std::string_view GrpcCodeName(int code) noexcept {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

GrpcServer::Builder::Builder(GrpcServerOptions options, Logger& logger, MetricsRegistry& metrics)
    : options_(std::move(options)), logger_(logger), metrics_(metrics) {}

GrpcServer::Builder& GrpcServer::Builder::AddService(grpc::Service* service) {
  services_.push_back(service);
  return *this;
}

Result<std::unique_ptr<GrpcServer>> GrpcServer::Builder::Start() {
  EnableHealthAndReflectionOnce();
  if (options_.port < 0 || options_.port > 65535) {
    return InvalidField("grpc.port", "must be in [0, 65535]", std::to_string(options_.port));
  }
  std::shared_ptr<grpc::ServerCredentials> credentials;
  const bool tls = !options_.tls_cert_path.empty() || !options_.tls_key_path.empty();
  if (tls) {
    if (options_.tls_cert_path.empty() || options_.tls_key_path.empty()) {
      return Fail(Errc::kInvalidArgument, "grpc.tls.cert and grpc.tls.key: set both or neither");
    }
    auto cert = ReadFile("grpc.tls.cert", options_.tls_cert_path);
    if (!cert) return std::unexpected(cert.error());
    auto key = ReadFile("grpc.tls.key", options_.tls_key_path);
    if (!key) return std::unexpected(key.error());
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({std::move(*key), std::move(*cert)});
    credentials = grpc::SslServerCredentials(ssl);
    if (options_.auth_processor) credentials->SetAuthMetadataProcessor(options_.auth_processor);
  } else if (options_.auth_processor) {
    credentials = std::make_shared<PlaintextCredentialsWithProcessor>(options_.auth_processor);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  const std::string address =
      (options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host) +
      ":" + std::to_string(options_.port);
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second instance on the same port would then silently
  // share its traffic. A port clash must fail start-up instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int bound_port = 0;
  builder.AddListeningPort(address, credentials, &bound_port);
  for (auto* service : services_) builder.RegisterService(service);

  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  auto calls = std::make_shared<detail::CallTracker>();
  factories.push_back(
      std::make_unique<RedInterceptorFactory>(std::make_shared<const RedMetrics>(metrics_), calls));
  builder.experimental().SetInterceptorCreators(std::move(factories));

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    return Fail(Errc::kUnavailable, "grpc.port: cannot listen on " + address);
  }
  auto started = std::unique_ptr<GrpcServer>(
      new GrpcServer(std::move(server), std::move(calls), bound_port, tls, logger_));
  started->SetServing(false);  // ready only when the service says so
  return started;
}

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server,
                       std::shared_ptr<detail::CallTracker> calls, int port, bool tls,
                       Logger& logger)
    : server_(std::move(server)),
      calls_(std::move(calls)),
      port_(port),
      tls_(tls),
      logger_(logger) {}

GrpcServer::~GrpcServer() {
  Shutdown(std::chrono::nanoseconds::zero());
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

void GrpcServer::SetServing(std::string_view service_name, bool serving) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(std::string(service_name), serving);
  }
}

void GrpcServer::Shutdown(std::chrono::nanoseconds deadline) {
  if (shut_down_.exchange(true)) return;
  SetServing(false);
  const auto started = std::chrono::steady_clock::now();
  // Once no call is in flight (or the deadline passed), close what is left: idle connections
  // and Watch streams. gRPC's own Shutdown would wait for idle clients to hang up.
  bool done = false;
  std::thread closer([this, &done, until = started + deadline] {
    std::unique_lock lock(calls_->mutex);
    calls_->changed.wait_until(lock, until, [&] { return done || calls_->in_flight == 0; });
    if (!done) grpc_server_cancel_all_calls(server_->c_server());
  });
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline));
  {
    std::lock_guard lock(calls_->mutex);
    done = true;
  }
  calls_->changed.notify_all();
  closer.join();
  server_->Wait();
  logger_.Debug("grpc server stopped",
                {{"port", port_}, {"took", std::chrono::steady_clock::now() - started}});
}

}  // namespace sop::runtime
