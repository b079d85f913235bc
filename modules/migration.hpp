#pragma once
// What republishing a module changes in its database, step by step, and
// whether it may be applied (the rules of features.md, "Automatic migrations
// on republish", and the reference's more permissive ones):
// - safe: applied; clients stay connected;
// - breaking: applied only when the publisher accepts breaking its clients,
//   who are then disconnected;
// - forbidden: refused, naming each change; the data must be cleared first, or
//   the module migrated incrementally (a `*_v2` table filled lazily).
// Pure: the caller says what the stored tables hold.

#include "modules/module_def.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace orrery {

enum class change_class { safe, breaking, forbidden };

struct migration_step {
  change_class kind = change_class::safe;
  std::string text;  // e.g. "Created table `book`"
};

struct migration_plan {
  std::vector<migration_step> steps;

  bool breaks_clients() const;
  bool forbidden() const;
  /// The plan as `orrery publish` prints it.
  std::string text() const;
  /// {"steps": [{"kind": "safe"|"breaking"|"forbidden", "text": ...}], "breaks_clients": b, "forbidden": b,
  ///  "text": text()}
  std::string json() const;
};

/// What the plan needs to know of the stored rows.
struct stored_rows {
  std::function<std::size_t(const std::string& table)> count;
  /// A value of `columns` that two rows of `table` share, as text; none if all differ.
  std::function<std::optional<std::string>(const std::string& table, const std::vector<std::uint16_t>& columns)> duplicate;
};

/// The steps from the running module (`stored`: its tables as the database
/// keeps them) to `next`.
migration_plan plan_migration(const module_def& running, const std::vector<table_schema>& stored, const module_def& next,
                              const stored_rows& rows);

} // namespace orrery
