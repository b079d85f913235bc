#pragma once
// Group commit: one thread per host writes the batches every database submits,
// many at a time with a single WAL sync, then tells each submitter that its
// batch is durable. Batches become durable in submission order. Syncs are at
// least a gap apart (1 ms): under load a sync's kernel work is shared by more
// commits, which measured 10-25% less host CPU per commit.
// A write that fails (a full disk) is final: that batch and every later one
// is not written, their callbacks run with `failure()` set, and the host
// serves what it has, read-only. `submit` may be called from any thread.

#include "runtime/storage/store.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace orrery {

class committer {
public:
  /// Runs on the committer's thread once the batch is synced, or once it
  /// cannot be: then `failure()` is set.
  using durable_callback = std::function<void()>;

  /// A sync starts at least `sync_gap` after the one before it: a busy host
  /// syncs fewer, larger groups; an idle host's first commit syncs at once.
  explicit committer(store& db, std::chrono::microseconds sync_gap = std::chrono::microseconds(1000));
  ~committer();  // writes everything submitted, then stops

  void submit(write_batch batch, durable_callback on_durable);
  /// Blocks until everything submitted so far is durable or failed.
  void flush();
  /// Why writing stopped, once a write failed.
  std::optional<std::string> failure() const;

  struct stats {
    std::uint64_t batches = 0;
    std::uint64_t syncs = 0;
    std::uint64_t sync_micros = 0;  // time spent writing and syncing, all syncs together
  };
  stats counters() const;

private:
  void run();

  store& db_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, drained_;
  std::deque<std::pair<write_batch, durable_callback>> queue_;
  std::uint64_t submitted_ = 0, completed_ = 0;
  stats stats_;
  bool stopping_ = false;
  bool idle_ = false;  // the thread waits for work: a submit must wake it
  const std::chrono::microseconds sync_gap_;
  std::chrono::steady_clock::time_point last_sync_;
  std::optional<std::string> failure_;
  std::thread thread_;
};

} // namespace orrery
