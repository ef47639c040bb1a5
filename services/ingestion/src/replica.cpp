#include "sop/ingestion/replica.hpp"

#include <utility>

#include "sop/bus/topics.hpp"

namespace sop::ingestion {

Result<std::unique_ptr<Replica>> Replica::Start(ReplicaOptions options,
                                                runtime::MetricsRegistry& metrics,
                                                runtime::Logger& logger) {
  auto replica = std::unique_ptr<Replica>(new Replica(std::move(options), metrics, logger));
  if (auto started = replica->Run(); !started) return std::unexpected(started.error());
  return replica;
}

Replica::Replica(ReplicaOptions options, runtime::MetricsRegistry& metrics, runtime::Logger& logger)
    : options_(std::move(options)), logger_(logger), store_(options_.redis), probe_(metrics) {}

Replica::~Replica() {
  Stop();
}

Result<void> Replica::Run() {
  if (auto ping = store_.Ping(); !ping) {
    logger_.Warn("redis not reachable yet; retrying on use", {{"error", ping.error().ToString()}});
  }
  auto producer =
      bus::Producer::Create(options_.kafka, {.on_error = [this](const Error& error) {
                              logger_.Error("producer error", {{"error", error.ToString()}});
                            }});
  if (!producer) return Fail(producer.error().code(), "producer: " + producer.error().message());
  producer_ = std::move(*producer);

  processor_ = std::make_unique<Processor>(options_.processor, *producer_, store_, probe_, logger_);
  Processor& processor = *processor_;
  auto consumer = bus::Consumer::Create(
      options_.kafka,
      {.group_id = options_.group_id,
       .topics = {std::string(bus::kErpEventsTopic)},
       .handler = [&processor](const bus::Message& message) { return processor.Handle(message); },
       // Handle dead-letters bad records itself and fails only retryably; this is the net for
       // anything else non-retryable.
       .on_rejected =
           [&processor](const bus::Message& message, const Error& error) {
             return processor.dead_letter().Send(message, error);
           },
       .listener = &processor});
  if (!consumer) return Fail(consumer.error().code(), "consumer: " + consumer.error().message());
  consumer_ = std::move(*consumer);
  if (auto started = consumer_->Start(); !started) {
    return Fail(started.error().code(), "consumer start: " + started.error().message());
  }
  bus::Consumer& running = *consumer_;
  processor.Start([&running] { return running.Lag(); });

  service_ = std::make_unique<IngestionService>(options_.service, *producer_, processor);
  return {};
}

void Replica::Stop() {
  std::call_once(stopped_, [this] {
    if (consumer_) consumer_->Stop();  // commits
    // After the consumer: the final snapshot covers everything it handled.
    if (processor_) processor_->Stop();
    if (producer_) (void)producer_->Flush(std::chrono::seconds(10));
  });
}

}  // namespace sop::ingestion
