#include "runtime/storage/committer.hpp"

#include <iostream>

namespace orrery {

committer::committer(store& db, std::chrono::microseconds sync_gap)
    : db_(db), sync_gap_(sync_gap), thread_([this] { run(); }) {}

committer::~committer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void committer::submit(write_batch batch, durable_callback on_durable) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(std::move(batch), std::move(on_durable));
    ++submitted_;
    wake = idle_;
  }
  if (wake) wake_.notify_one();  // a busy thread takes the queue when it is done
}

void committer::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::uint64_t target = submitted_;
  drained_.wait(lock, [&] { return completed_ >= target; });
}

std::optional<std::string> committer::failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

committer::stats committer::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void committer::run() {
  for (;;) {
    std::deque<std::pair<write_batch, durable_callback>> group;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      idle_ = true;
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      idle_ = false;
      if (queue_.empty()) return;  // stopping, nothing left
      const auto due = last_sync_ + sync_gap_;
      if (!stopping_ && std::chrono::steady_clock::now() < due) {
        lock.unlock();
        std::this_thread::sleep_until(due);  // what arrives meanwhile joins this group
        lock.lock();
      }
      group.swap(queue_);
    }
    last_sync_ = std::chrono::steady_clock::now();
    const auto sync_started = last_sync_;
    // Nothing later may be written, let alone reported durable, once a write failed.
    if (!failure()) {
      std::vector<const write_batch*> parts;
      for (auto& entry : group) parts.push_back(&entry.first);
      write_batch combined = write_batch::concat(parts);
      if (auto s = db_.write(combined, true); !s.ok()) {
        std::cerr << "orrery: writing to the data store failed; databases are read-only from now on: " << s.error
                  << std::endl;
        std::lock_guard<std::mutex> lock(mutex_);
        failure_ = s.error;
      }
    }
    const auto synced = std::chrono::steady_clock::now();
    for (auto& [batch, cb] : group)
      if (cb) cb();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      completed_ += group.size();
      stats_.batches += group.size();
      ++stats_.syncs;
      stats_.sync_micros += std::uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(synced - sync_started).count());
    }
    drained_.notify_all();
  }
}

} // namespace orrery
