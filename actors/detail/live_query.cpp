#include "actors/detail/live_query.hpp"

#include <algorithm>
#include <iterator>

namespace orrery::detail {
namespace {

class sql_query final : public live_query {
public:
  explicit sql_query(std::shared_ptr<sql::subscription_query> q) : q_(std::move(q)) {}
  const std::string& table_name() const override { return q_->table_name(); }
  bool returns_events() const override { return q_->returns_events(); }
  result<done> initial_rows(std::vector<std::string>& out, const sql::limits& bounds) override {
    return q_->initial_rows(out, bounds);
  }
  void delta(const commit_result& commit, std::vector<std::string>& inserts, std::vector<std::string>& deletes) override {
    q_->delta(commit, inserts, deletes);
  }

private:
  std::shared_ptr<sql::subscription_query> q_;
};

class view_query final : public live_query {
public:
  view_query(std::string name, view_evaluator evaluate) : name_(std::move(name)), evaluate_(std::move(evaluate)) {}
  const std::string& table_name() const override { return name_; }

  result<done> initial_rows(std::vector<std::string>& out, const sql::limits&) override {
    if (!computed_) {
      std::set<table_id> reads;
      auto rows = evaluate_(reads);
      if (!rows) return fail(errc::host_call_failure, "the view `" + name_ + "` cannot be computed now; try again");
      if (!*rows) return rows->error();
      rows_ = std::move(**rows);
      std::sort(rows_.begin(), rows_.end());
      reads_ = std::move(reads);
      computed_ = true;
    }
    out.insert(out.end(), rows_.begin(), rows_.end());
    return done{};
  }

  void delta(const commit_result& commit, std::vector<std::string>& inserts, std::vector<std::string>& deletes) override {
    if (!computed_) return;
    bool touched = std::any_of(commit.updates.begin(), commit.updates.end(),
                               [&](const table_update& u) { return reads_.count(u.table) > 0; });
    if (!touched) return;
    std::set<table_id> reads;
    auto rows = evaluate_(reads);
    if (!rows || !*rows) return;  // keeps its rows: not computable now, or the view failed (the module logged why)
    std::vector<std::string> now = std::move(**rows);
    std::sort(now.begin(), now.end());
    // Multiset differences: what left and what came.
    std::set_difference(rows_.begin(), rows_.end(), now.begin(), now.end(), std::back_inserter(deletes));
    std::set_difference(now.begin(), now.end(), rows_.begin(), rows_.end(), std::back_inserter(inserts));
    rows_ = std::move(now);
    reads_ = std::move(reads);
  }

private:
  std::string name_;
  view_evaluator evaluate_;
  bool computed_ = false;
  std::vector<std::string> rows_;  // sorted
  std::set<table_id> reads_;
};

} // namespace

std::shared_ptr<live_query> sql_live_query(std::shared_ptr<sql::subscription_query> query) {
  return std::make_shared<sql_query>(std::move(query));
}

std::shared_ptr<live_query> view_live_query(std::string name, view_evaluator evaluate) {
  return std::make_shared<view_query>(std::move(name), std::move(evaluate));
}

} // namespace orrery::detail
