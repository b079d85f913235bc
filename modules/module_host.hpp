#pragma once
// A module running in its own V8 isolate: loads a bundle, describes the
// module, and calls its reducers inside a datastore transaction. Owned by one
// database actor and used from that actor's thread only. No V8 types here.

#include "runtime/datastore.hpp"
#include "runtime/identity.hpp"
#include "runtime/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace orrery {

struct module_limits {
  std::chrono::milliseconds reducer_budget{5000};  // a call running longer is terminated
  std::size_t heap_limit_bytes = std::size_t(256) << 20;
};

/// Console levels as the module ABI numbers them.
enum class log_level { error = 0, warn = 1, info = 2, debug = 3, trace = 4, panic = 101 };

/// What a module reaches outside itself; implemented by its database.
class module_environment {
public:
  virtual ~module_environment() = default;
  virtual void log(log_level level, std::string_view message) = 0;
  virtual identity database_identity() const = 0;
  /// The JSON claims of a connected client's token ("" if none).
  virtual std::string jwt_payload(const connection_id& connection) const = 0;
  /// Runs reducer `name` with BSATN `args` after the current call.
  virtual void schedule_immediate(std::string name, std::string args) = 0;
};

enum class call_status { ok, user_error, internal_error };

struct call_outcome {
  call_status status = call_status::ok;
  std::string message;  // the SenderError message, or the error and its stack
};

/// Table and index names (source and canonical) to ids.
struct name_bindings {
  std::unordered_map<std::string, table_id> tables;
  std::unordered_map<std::string, index_id> indexes;
};

class module_instance {
public:
  /// Evaluates `bundle` in a fresh isolate; fails with the module's own error text.
  static result<std::unique_ptr<module_instance>> load(const std::string& bundle,
                                                        module_environment& env,
                                                        module_limits limits = {});
  ~module_instance();

  /// The module's RawModuleDef (BSATN), as `__describe_module__` returned it.
  const std::string& definition() const;
  void bind(datastore& ds, name_bindings names);

  /// Calls reducer `id` with BSATN `args` inside `tx`; the caller commits or rolls back.
  call_outcome call_reducer(std::uint32_t id, const identity& sender, const connection_id& connection,
                            std::int64_t timestamp_micros, std::string_view args, transaction& tx);

  /// True once a call was terminated (time budget) or ran out of heap: the
  /// instance must be replaced before the next call.
  bool broken() const;

  struct impl;

private:
  explicit module_instance(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

} // namespace orrery
