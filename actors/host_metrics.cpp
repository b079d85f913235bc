#include "actors/host_metrics.hpp"

#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace orrery {

void duration_histogram::add(std::uint64_t micros) {
  std::size_t i = 0;
  while (i < bounds.size() && micros > bounds[i]) ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros.fetch_add(micros, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
}

std::array<std::uint64_t, duration_histogram::bounds.size() + 1> duration_histogram::counts() const {
  std::array<std::uint64_t, bounds.size() + 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = buckets[i].load(std::memory_order_relaxed);
  return out;
}

double percentile_ms(const std::array<std::uint64_t, duration_histogram::bounds.size() + 1>& counts, double fraction) {
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return 0;
  const double wanted = fraction * double(total);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (double(seen) >= wanted) {
      // Past the last bound: at least that long, which is all the buckets say.
      const std::uint64_t bound = duration_histogram::bounds[std::min(i, duration_histogram::bounds.size() - 1)];
      return double(bound) / 1000.0;
    }
  }
  return double(duration_histogram::bounds.back()) / 1000.0;
}

void database_figures::note(call_record call) {
  calls.fetch_add(1, std::memory_order_relaxed);
  if (call.result == call_record::outcome::user_error) user_errors.fetch_add(1, std::memory_order_relaxed);
  else if (call.result == call_record::outcome::internal_error) internal_errors.fetch_add(1, std::memory_order_relaxed);
  durations.add(call.micros);
  std::lock_guard<std::mutex> lock(calls_mutex_);
  if (recent_.size() == recent_calls_kept) recent_.pop_front();
  recent_.push_back(std::move(call));
}

std::vector<call_record> database_figures::recent() const {
  std::lock_guard<std::mutex> lock(calls_mutex_);
  return {recent_.begin(), recent_.end()};
}

std::shared_ptr<database_figures> host_metrics::of(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& entry = databases_[id];
  if (!entry) entry = std::make_unique<tracked>();
  return entry->figures;
}

void host_metrics::forget(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  databases_.erase(id);
}

std::vector<call_record> host_metrics::recent_calls(std::uint64_t id) const {
  std::shared_ptr<database_figures> figures;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = databases_.find(id);
    if (it == databases_.end()) return {};
    figures = it->second->figures;
  }
  return figures->recent();
}

host_metrics::host_metrics(std::chrono::milliseconds interval)
    : interval_(interval), history_points_(std::size_t(std::chrono::hours(1) / interval)) {}

void host_metrics::sample(std::int64_t now_micros, const sync_figures& syncs) {
  std::lock_guard<std::mutex> lock(mutex_);
  double fsyncs_per_s = 0;
  if (last_syncs_at_ != 0 && now_micros > last_syncs_at_)
    fsyncs_per_s = double(syncs.syncs - last_syncs_.syncs) / (double(now_micros - last_syncs_at_) / 1e6);
  last_syncs_ = syncs;
  last_syncs_at_ = now_micros;
  for (auto& [id, t] : databases_) {
    const database_figures& f = *t->figures;
    if (!f.awake) {  // asleep: no point, and after an hour its history goes
      if (!t->points.empty() && t->points.back().at_micros < now_micros - 3600 * std::int64_t(1000000)) t->points.clear();
      continue;
    }
    const std::uint64_t calls = f.calls.load(), errors = f.user_errors.load() + f.internal_errors.load(),
                        commits = f.commits.load();
    const auto buckets = f.durations.counts();
    metrics_point p;
    p.at_micros = now_micros;
    p.host_fsyncs_per_s = fsyncs_per_s;
    if (t->at_micros != 0 && now_micros > t->at_micros) {
      const double seconds = double(now_micros - t->at_micros) / 1e6;
      p.calls_per_s = double(calls - t->calls) / seconds;
      p.errors_per_s = double(errors - t->errors) / seconds;
      p.commits_per_s = double(commits - t->commits) / seconds;
      std::array<std::uint64_t, duration_histogram::bounds.size() + 1> interval{};
      for (std::size_t i = 0; i < interval.size(); ++i) interval[i] = buckets[i] - t->buckets[i];
      p.p50_ms = percentile_ms(interval, 0.5);
      p.p99_ms = percentile_ms(interval, 0.99);
    }
    p.clients = f.clients.load();
    p.subscriptions = f.subscriptions.load();
    p.rows = f.rows.load();
    p.memory_bytes = f.memory_bytes.load();
    t->calls = calls;
    t->errors = errors;
    t->commits = commits;
    t->buckets = buckets;
    t->at_micros = now_micros;
    t->points.push_back(p);
    while (t->points.size() > history_points_) t->points.pop_front();
  }
}

std::vector<metrics_point> host_metrics::history(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = databases_.find(id);
  if (it == databases_.end()) return {};
  return {it->second->points.begin(), it->second->points.end()};
}

namespace {

std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string seconds(std::uint64_t micros) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", double(micros) / 1e6);
  return text;
}

std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * std::int64_t(sysconf(_SC_PAGESIZE));
}

class exposition {
public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void line(const std::string& name, const std::string& labels, const std::string& value) {
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

} // namespace

std::string host_metrics::prometheus(const std::map<std::uint64_t, database_label>& labels,
                                     const sync_figures& syncs) const {
  struct row {
    std::string labels;
    std::shared_ptr<const database_figures> f;
  };
  std::vector<row> rows;
  {
    std::lock_guard<std::mutex> lock(mutex_);  // only to take the figures: they are read without it
    for (auto& [id, label] : labels) {
      auto it = databases_.find(id);
      if (it == databases_.end()) continue;
      rows.push_back({"database_identity=\"" + escaped(label.identity) + "\",database=\"" + escaped(label.name) + "\"",
                      it->second->figures});
    }
  }
  exposition e;
  e.family("orrery_calls_total", "counter", "Reducer calls (clients', scheduled, lifecycle), by outcome.");
  for (auto& r : rows) {
    e.line("orrery_calls_total", r.labels + ",outcome=\"ok\"",
           std::to_string(r.f->calls - r.f->user_errors - r.f->internal_errors));
    e.line("orrery_calls_total", r.labels + ",outcome=\"user_error\"", std::to_string(r.f->user_errors));
    e.line("orrery_calls_total", r.labels + ",outcome=\"internal_error\"", std::to_string(r.f->internal_errors));
  }
  e.family("orrery_call_duration_seconds", "histogram",
           "How long reducer calls ran in the module, until their transaction was ready to commit.");
  for (auto& r : rows) {
    auto counts = r.f->durations.counts();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < duration_histogram::bounds.size(); ++i) {
      cumulative += counts[i];
      e.line("orrery_call_duration_seconds_bucket", r.labels + ",le=\"" + seconds(duration_histogram::bounds[i]) + "\"",
             std::to_string(cumulative));
    }
    cumulative += counts.back();
    e.line("orrery_call_duration_seconds_bucket", r.labels + ",le=\"+Inf\"", std::to_string(cumulative));
    e.line("orrery_call_duration_seconds_sum", r.labels, seconds(r.f->durations.sum_micros));
    e.line("orrery_call_duration_seconds_count", r.labels, std::to_string(cumulative));
  }
  e.family("orrery_commits_total", "counter", "Transactions committed.");
  for (auto& r : rows) e.line("orrery_commits_total", r.labels, std::to_string(r.f->commits));
  e.family("orrery_connected_clients", "gauge", "WebSocket clients connected.");
  for (auto& r : rows) e.line("orrery_connected_clients", r.labels, std::to_string(r.f->clients));
  e.family("orrery_subscribed_queries", "gauge", "Distinct queries clients are subscribed to.");
  for (auto& r : rows) e.line("orrery_subscribed_queries", r.labels, std::to_string(r.f->subscriptions));
  e.family("orrery_table_rows", "gauge", "Rows in the database's tables (as of its last commit while awake).");
  for (auto& r : rows) e.line("orrery_table_rows", r.labels, std::to_string(r.f->rows));
  e.family("orrery_database_memory_bytes", "gauge", "Memory the database holds: tables and module heap (0 asleep).");
  for (auto& r : rows)
    e.line("orrery_database_memory_bytes", r.labels, std::to_string(r.f->awake ? r.f->memory_bytes.load() : 0));
  e.family("orrery_database_awake", "gauge", "1 while the database is awake, 0 asleep.");
  for (auto& r : rows) e.line("orrery_database_awake", r.labels, r.f->awake ? "1" : "0");

  std::uint64_t awake = 0, clients = 0;
  for (auto& r : rows) {
    awake += r.f->awake ? 1 : 0;
    clients += std::uint64_t(std::max<std::int64_t>(0, r.f->clients));
  }
  e.family("orrery_databases", "gauge", "Databases on this host, by state.");
  e.line("orrery_databases", "state=\"awake\"", std::to_string(awake));
  e.line("orrery_databases", "state=\"asleep\"", std::to_string(labels.size() - awake));
  e.family("orrery_host_connected_clients", "gauge", "WebSocket clients connected to any database.");
  e.line("orrery_host_connected_clients", "", std::to_string(clients));
  e.family("orrery_process_resident_bytes", "gauge", "Resident memory of the host process.");
  e.line("orrery_process_resident_bytes", "", std::to_string(resident_bytes()));
  e.family("orrery_fsyncs_total", "counter", "Syncs of the data store (each makes a group of commits durable).");
  e.line("orrery_fsyncs_total", "", std::to_string(syncs.syncs));
  e.family("orrery_fsync_seconds_total", "counter", "Time spent writing and syncing the data store.");
  e.line("orrery_fsync_seconds_total", "", seconds(syncs.sync_micros));
  e.family("orrery_write_batches_total", "counter", "Batches made durable (commits, schema changes, checkpoints).");
  e.line("orrery_write_batches_total", "", std::to_string(syncs.batches));
  return e.take();
}

} // namespace orrery
