#pragma once
// A module running in its own V8 isolate: loads a bundle (evaluates and
// describes it), starts further instances from what the first load left (its
// definition and code cache), and calls reducers inside a datastore
// transaction. Owned by one database actor, which runs on whichever worker thread the scheduler gives it:
// each load, call and teardown takes the isolate's lock, so one thread at a
// time uses it. No V8 types here.

#include "modules/module_image.hpp"
#include "runtime/result.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/types/identity.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace orrery {

/// What one module may use. Every limit holds for all module code: the top
/// level and `__describe_module__` while loading, and each reducer call
/// (client calls, lifecycle reducers, scheduled reducers).
struct module_limits {
  /// Wall time of one load or one call; past it the code is terminated.
  std::chrono::milliseconds reducer_budget{5000};
  /// The isolate's V8 heap. Reaching it terminates the running code; the
  /// isolate may grow to three times this while the terminated code unwinds.
  std::size_t heap_limit_bytes = std::size_t(256) << 20;
  /// Bytes of live ArrayBuffers (typed arrays included); 0: heap_limit_bytes.
  /// An allocation past it throws a RangeError in the module.
  std::size_t array_buffer_limit_bytes = 0;
  /// Row iterators one call may hold open at once.
  std::size_t max_open_iterators = 1024;
  /// `console.time` spans one call may hold open at once.
  std::size_t max_console_timers = 1024;
  /// Reducers one call may schedule with `volatile_nonatomic_schedule_immediate`.
  std::size_t max_scheduled_per_call = 1024;
  /// Log lines one load or call may write; later lines are dropped.
  std::size_t max_log_lines_per_call = 10000;
  /// Bytes of one log line; longer lines are cut.
  std::size_t max_log_line_bytes = std::size_t(64) << 10;
};

/// Console levels as the module ABI numbers them.
enum class log_level { error = 0, warn = 1, info = 2, debug = 3, trace = 4, panic = 101 };

/// A procedure's outbound HTTP request (`ctx.http.fetch`) and its answer.
struct http_fetch_request {
  std::string method = "GET";
  std::string uri;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // 0: the host's default
};

struct http_fetch_response {
  std::uint16_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// What a module reaches outside itself; implemented by its database.
class module_environment {
public:
  virtual ~module_environment() = default;
  virtual void log(log_level level, std::string_view message) = 0;
  virtual identity database_identity() const = 0;
  /// The JSON claims of a connected client's token ("" if none).
  virtual std::string jwt_payload(const connection_id& connection) const = 0;
  /// Runs reducer `name` with BSATN `args` after the current call. Called
  /// only while a reducer runs, at most `max_scheduled_per_call` times per call.
  virtual void schedule_immediate(std::string name, std::string args) = 0;

  /// A procedure's own transaction (`ctx.withTx`), or null with `why` when
  /// none may open. Called only while a procedure runs, with none open.
  virtual transaction* begin_procedure_tx(std::string& why) {
    why = "procedures cannot open transactions here";
    return nullptr;
  }
  /// Commits (subscribers hear of it once it is durable) or rolls back the
  /// transaction begin_procedure_tx opened.
  virtual void end_procedure_tx(bool commit) { (void)commit; }
  /// Sends a procedure's HTTP request and waits for the answer, within the
  /// request's timeout. Fails with the reason.
  virtual result<http_fetch_response> fetch(const http_fetch_request& request) {
    (void)request;
    return fail(errc::http_error, "outbound HTTP requests are not available here");
  }
};

enum class call_status { ok, user_error, internal_error };

struct call_outcome {
  call_status status = call_status::ok;
  std::string message;  // the SenderError message, or the error and its stack
  std::string value;    // a procedure's return value, or an HTTP handler's HttpResponse (BSATN)
  std::string body;     // an HTTP handler's response body
};

/// Table and index names (source and canonical) to ids.
struct name_bindings {
  std::unordered_map<std::string, table_id> tables;
  std::unordered_map<std::string, index_id> indexes;
};

class module_instance {
public:
  /// Evaluates `bundle` in a fresh isolate and describes it, within the
  /// limits; fails with the module's own error text, or says which limit the
  /// module reached and while doing what.
  static result<std::unique_ptr<module_instance>> load(const std::string& bundle, module_environment& env,
                                                        module_limits limits = {});
  /// A new instance of a module loaded before: compiles from its code cache
  /// and does not describe it again. Module code (the top level) runs.
  static result<std::unique_ptr<module_instance>> start(std::shared_ptr<const module_image> image,
                                                        module_environment& env, module_limits limits = {});
  ~module_instance();

  /// The module's RawModuleDef (BSATN), as `__describe_module__` returned it.
  const std::string& definition() const;
  /// Bytes the isolate holds: its heap (committed), V8's own allocations
  /// and the module's ArrayBuffers.
  std::size_t memory_bytes() const;
  /// What `start` needs to make more instances of this module. For an
  /// instance whose image's code cache V8 refused (another V8 version or
  /// flags), a renewed image with a cache of its own.
  std::shared_ptr<const module_image> image() const;
  /// Whether V8 refused the code cache this instance was started with.
  bool cache_rejected() const;
  void bind(datastore& ds, name_bindings names);

  /// Calls reducer `id` with BSATN `args` inside `tx`; the caller commits or rolls back.
  call_outcome call_reducer(std::uint32_t id, const identity& sender, const connection_id& connection,
                            std::int64_t timestamp_micros, std::string_view args, transaction& tx);

  /// Calls procedure `id` with BSATN `args` outside any transaction: it opens
  /// its own through the environment. Its return value is in `value`.
  call_outcome call_procedure(std::uint32_t id, const identity& sender, const connection_id& connection,
                              std::int64_t timestamp_micros, std::string_view args);

  /// Calls HTTP handler `id` with a BSATN HttpRequest and its body, outside
  /// any transaction (as a procedure). The HttpResponse is in `value`, its
  /// body in `body`.
  call_outcome call_http_handler(std::uint32_t id, std::int64_t timestamp_micros, std::string_view request,
                                 std::string_view body);

  /// Calls the view the hook knows as `hook_id` (anonymous, or for `sender`)
  /// over `tx`, which it may only read: a write fails the view. `value`
  /// holds its ViewResultHeader and data (BSATN); `reads` gets the tables it read.
  call_outcome call_view(std::uint32_t hook_id, bool anonymous, const identity& sender, transaction& tx,
                         std::set<table_id>& reads);

  /// True once a call was terminated (time budget), ran out of memory, or V8
  /// reported a fatal error in it: the instance must be replaced before the
  /// next call, and calls until then fail at once.
  bool broken() const;

  struct impl;

private:
  explicit module_instance(std::unique_ptr<impl> state);
  enum class hook { reducer, procedure, http_handler, view, anonymous_view };
  call_outcome call(hook kind, std::uint32_t id, const identity& sender, const connection_id& connection,
                    std::int64_t timestamp_micros, std::string_view args, std::string_view body, transaction* tx);
  std::unique_ptr<impl> impl_;
};

} // namespace orrery
