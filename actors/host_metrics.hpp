#pragma once
// The figures `/metrics` and the console show. Each database adds to its own
// as it works (calls by outcome and their durations, commits) and sets its
// gauges (connected clients, subscribed queries, rows, memory); a sampler
// keeps a point every few seconds for the last hour. Thread-safe: database
// actors write, HTTP routes read.

#include "runtime/types/identity.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace orrery {

/// Durations in microseconds counted in fixed buckets.
struct duration_histogram {
  static constexpr std::array<std::uint64_t, 14> bounds{50,    100,   250,    500,    1000,   2500,    5000,
                                                        10000, 25000, 50000, 100000, 250000, 1000000, 5000000};
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets{};  // the last: past every bound
  std::atomic<std::uint64_t> sum_micros{0};
  std::atomic<std::uint64_t> count{0};

  void add(std::uint64_t micros);
  std::array<std::uint64_t, bounds.size() + 1> counts() const;
};

/// A finished call, for the console's list of recent calls.
struct call_record {
  std::int64_t at_micros = 0;
  std::string function;  // the reducer
  identity caller;
  std::uint64_t micros = 0;
  enum class outcome : std::uint8_t { ok, user_error, internal_error } result = outcome::ok;
  std::string error;
};

/// A database's figures, kept while the host runs (also while it sleeps).
/// Its database actor holds it, so a deleted database's last writes land here
/// even after the host's metrics let go of it.
struct database_figures {
  static constexpr std::size_t recent_calls_kept = 100;

  std::atomic<std::uint64_t> calls{0}, user_errors{0}, internal_errors{0}, commits{0};
  duration_histogram durations;  // of every call
  std::atomic<std::int64_t> clients{0}, subscriptions{0}, rows{0}, memory_bytes{0};
  std::atomic<bool> awake{false};

  /// Counts a finished call and keeps it among the recent ones.
  void note(call_record call);
  std::vector<call_record> recent() const;

private:
  mutable std::mutex calls_mutex_;  // this database's only: calls of other databases never wait on it
  std::deque<call_record> recent_;
};

/// One point of a database's history: rates over the interval before `at`.
struct metrics_point {
  std::int64_t at_micros = 0;
  double calls_per_s = 0, errors_per_s = 0, commits_per_s = 0;
  double host_fsyncs_per_s = 0;  // the host's, shared by every database
  double p50_ms = 0, p99_ms = 0;  // of the interval's calls; 0 with none
  std::int64_t clients = 0, subscriptions = 0, rows = 0, memory_bytes = 0;
};

/// What labels a database's figures: its identity (hex) and first name.
struct database_label {
  std::string identity, name;
};

/// The host's syncs, as the committer counts them.
struct sync_figures {
  std::uint64_t syncs = 0, batches = 0, sync_micros = 0;
};

class host_metrics {
public:
  /// An hour of history at one point per `interval`.
  explicit host_metrics(std::chrono::milliseconds interval = std::chrono::seconds(10));
  std::chrono::milliseconds interval() const { return interval_; }

  /// Database `id`'s figures; the same object until the database is deleted.
  std::shared_ptr<database_figures> of(std::uint64_t id);
  /// A deleted database's figures and history go (its actor may hold its figures a while).
  void forget(std::uint64_t id);
  std::vector<call_record> recent_calls(std::uint64_t id) const;

  /// Takes a point for every database (the sampler, every `interval`).
  void sample(std::int64_t now_micros, const sync_figures& syncs);
  std::vector<metrics_point> history(std::uint64_t id) const;

  /// The Prometheus text exposition of every database in `labels` and the host.
  std::string prometheus(const std::map<std::uint64_t, database_label>& labels, const sync_figures& syncs) const;

private:
  struct tracked {
    std::shared_ptr<database_figures> figures = std::make_shared<database_figures>();
    std::deque<metrics_point> points;
    // The counters at the last point.
    std::uint64_t calls = 0, errors = 0, commits = 0;
    std::array<std::uint64_t, duration_histogram::bounds.size() + 1> buckets{};
    std::int64_t at_micros = 0;
  };
  const std::chrono::milliseconds interval_;
  const std::size_t history_points_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::unique_ptr<tracked>> databases_;
  sync_figures last_syncs_;
  std::int64_t last_syncs_at_ = 0;
};

/// The duration below which `fraction` of the counted values fall (an
/// upper bucket bound, in milliseconds); 0 with none counted.
double percentile_ms(const std::array<std::uint64_t, duration_histogram::bounds.size() + 1>& counts, double fraction);

} // namespace orrery
