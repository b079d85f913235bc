#pragma once
// Private to the database actor: what a subscription follows. Either a SQL
// query over tables (sql::subscription_query) or a view, whose rows the
// module computes and which is computed again when a table it read changes.
// Called on the database actor's thread only.

#include "runtime/result.hpp"
#include "runtime/sql/limits.hpp"
#include "runtime/sql/subscription.hpp"
#include "runtime/storage/datastore.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace orrery::detail {

class live_query {
public:
  virtual ~live_query() = default;
  /// The name clients know the rows by (a table's or a view's).
  virtual const std::string& table_name() const = 0;
  virtual bool returns_events() const { return false; }
  /// The rows the query returns now.
  virtual result<done> initial_rows(std::vector<std::string>& out, const sql::limits& bounds) = 0;
  /// The rows `commit` added to and removed from the result.
  virtual void delta(const commit_result& commit, std::vector<std::string>& inserts,
                     std::vector<std::string>& deletes) = 0;
};

/// A SQL subscription query.
std::shared_ptr<live_query> sql_live_query(std::shared_ptr<sql::subscription_query> query);

/// Computes a view's rows (BSATN) and the tables it read; none while the
/// module cannot run it (it is running a procedure): then the view keeps its
/// rows until it is computed again.
using view_evaluator = std::function<std::optional<result<std::vector<std::string>>>(std::set<table_id>& reads)>;

/// One view instance (a view, for one caller unless anonymous): computed once
/// when subscribed, again after each commit that changed a table it read.
std::shared_ptr<live_query> view_live_query(std::string name, view_evaluator evaluate);

} // namespace orrery::detail
