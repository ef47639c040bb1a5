#include "sop/ingestion/rejections.hpp"

#include <algorithm>
#include <charconv>

namespace sop::ingestion {

RejectionLog::RejectionLog(store::RedisStore* store, std::size_t capacity)
    : store_(store), capacity_(std::max<std::size_t>(capacity, 1)) {}

void RejectionLog::Add(const sop::v1::Rejection& rejection) {
  std::lock_guard lock(mutex_);
  ring_.push_front(rejection);
  if (ring_.size() > capacity_) ring_.pop_back();
  if (store_ == nullptr) return;
  if (unpersisted_.size() >= kMaxUnpersisted) {
    unpersisted_.erase(unpersisted_.begin());
    ++unpersisted_dropped_;
  }
  unpersisted_.push_back(rejection.SerializeAsString());
}

Status RejectionLog::Persist() {
  std::vector<std::string> records;
  {
    std::lock_guard lock(mutex_);
    records.swap(unpersisted_);
  }
  if (records.empty() || store_ == nullptr) return {};
  store::WriteBatch batch;
  for (const auto& record : records) batch.Append(kRedisLog, record);
  auto written = store_->Write(batch);
  if (!written) {
    // Outcome unknown (a retry may duplicate audit records, which is better than losing them).
    std::lock_guard lock(mutex_);
    records.insert(records.end(), std::make_move_iterator(unpersisted_.begin()),
                   std::make_move_iterator(unpersisted_.end()));
    unpersisted_.swap(records);
    while (unpersisted_.size() > kMaxUnpersisted) {
      unpersisted_.erase(unpersisted_.begin());
      ++unpersisted_dropped_;
    }
  }
  return written;
}

std::uint64_t RejectionLog::unpersisted_dropped() const {
  std::lock_guard lock(mutex_);
  return unpersisted_dropped_;
}

Result<RejectionLog::Page> RejectionLog::List(std::string_view site, std::size_t page_size,
                                              std::string_view page_token) const {
  std::size_t skip = 0;
  if (!page_token.empty()) {
    const auto [end, ec] =
        std::from_chars(page_token.data(), page_token.data() + page_token.size(), skip);
    if (ec != std::errc() || end != page_token.data() + page_token.size())
      return InvalidField("page_token", "must be a token from a previous response", page_token);
  }
  Page page;
  std::lock_guard lock(mutex_);
  std::size_t matched = 0;
  for (const auto& rejection : ring_) {
    if (!site.empty() && rejection.site() != site) continue;
    if (matched++ < skip) continue;
    if (page.rejections.size() == page_size) {
      page.next_page_token = std::to_string(skip + page_size);
      break;
    }
    page.rejections.push_back(rejection);
  }
  return page;
}

std::size_t RejectionLog::size() const {
  std::lock_guard lock(mutex_);
  return ring_.size();
}

void PendingOutcomes::Record(Outcome outcome, const sop::v1::Rejection* rejection) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    ++decided_;
    switch (outcome) {
      case Outcome::kAccepted:
        ++accepted_;
        break;
      case Outcome::kDuplicate:
        ++duplicates_;
        break;
      case Outcome::kRejected:
        ++rejected_;
        if (rejection != nullptr && rejections_.size() < max_rejections_)
          rejections_.push_back(*rejection);
        break;
    }
    // Wake the waiter only when its count is reached: one futex wake per call, not per event.
    wake = target_ > 0 && decided_ >= target_;
  }
  if (wake) cv_.notify_all();
}

bool PendingOutcomes::WaitFor(std::int64_t expected,
                              std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  target_ = std::max<std::int64_t>(expected, 1);
  return cv_.wait_until(lock, deadline, [&] { return decided_ >= expected; });
}

void PendingOutcomes::Fill(sop::v1::SubmitSummary& summary) const {
  std::lock_guard lock(mutex_);
  summary.set_accepted(summary.accepted() + accepted_);
  summary.set_duplicates(summary.duplicates() + duplicates_);
  summary.set_rejected(summary.rejected() + rejected_);
  for (const auto& rejection : rejections_) {
    if (summary.rejections_size() >= static_cast<int>(max_rejections_)) break;
    *summary.add_rejections() = rejection;
  }
}

void OutcomeRegistry::Expect(const std::shared_ptr<PendingOutcomes>& pending,
                             const std::string& event_id) {
  std::lock_guard lock(mutex_);
  by_id_[event_id].push_back(pending);
  pending->expected_ids_.push_back(event_id);
  waiting_.fetch_add(1, std::memory_order_release);
}

void OutcomeRegistry::Forget(const std::shared_ptr<PendingOutcomes>& pending) {
  std::lock_guard lock(mutex_);
  for (const auto& id : pending->expected_ids_) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    auto& queue = it->second;
    const auto before = queue.size();
    std::erase(queue, pending);
    waiting_.fetch_sub(before - queue.size(), std::memory_order_release);
    if (queue.empty()) by_id_.erase(it);
  }
  pending->expected_ids_.clear();
}

void OutcomeRegistry::Resolve(const std::string& event_id, Outcome outcome,
                              const sop::v1::Rejection* rejection) {
  if (waiting_.load(std::memory_order_acquire) == 0) return;
  std::shared_ptr<PendingOutcomes> pending;
  {
    std::lock_guard lock(mutex_);
    const auto it = by_id_.find(event_id);
    if (it == by_id_.end()) return;
    pending = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) by_id_.erase(it);
    waiting_.fetch_sub(1, std::memory_order_release);
  }
  pending->Record(outcome, rejection);
}

}  // namespace sop::ingestion
