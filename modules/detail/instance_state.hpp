#pragma once
// Private to modules/: the V8 state behind a module_instance, shared by the
// loader (module_host.cpp) and the syscalls (syscalls.cpp). Everything here
// runs on the thread that owns the instance, except array_buffer_budget::Free,
// which V8 may call from its own threads.

#include "modules/module_host.hpp"

#include <v8.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace orrery {

/// Backs every ArrayBuffer of one isolate and refuses allocations past its
/// byte budget: V8 then throws a RangeError in the module instead of growing.
class array_buffer_budget final : public v8::ArrayBuffer::Allocator {
public:
  explicit array_buffer_budget(std::size_t limit_bytes);
  void* Allocate(std::size_t length) override;
  void* AllocateUninitialized(std::size_t length) override;
  void Free(void* data, std::size_t length) override;

  /// True if `length` more bytes fit now.
  bool fits(std::size_t length) const;
  std::size_t limit() const { return limit_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }

private:
  bool reserve(std::size_t length);
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

/// The syscall ABI a bundle imports: `spacetime:sys@2.x` (the 2.x library,
/// hooks from its default export) or `spacetime:sys@1.x` (the 1.x library,
/// hooks given to `register_hooks`, called with no receiver; reducers return
/// `{tag}` and syscalls throw `{__code_error__}` objects).
enum class module_abi { v2, v1 };

struct module_instance::impl {
  module_environment* env = nullptr;
  module_abi abi = module_abi::v2;
  module_limits limits;
  std::shared_ptr<array_buffer_budget> allocator;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  v8::Global<v8::Module> module;
  v8::Global<v8::Symbol> hooks_symbol;
  v8::Global<v8::Object> hooks;  // v1: what the module gave register_hooks
  v8::Global<v8::Function> call_reducer;
  v8::Global<v8::Function> call_procedure;     // absent in modules built before procedures
  v8::Global<v8::Function> call_http_handler;  // absent in modules built before HTTP handlers
  v8::Global<v8::Function> call_view, call_view_anon;
  v8::Global<v8::Function> error_constructor_of;  // hooks.__get_error_constructor__
  v8::Global<v8::Value> sender_error_class;
  std::unordered_map<int, v8::Global<v8::Value>> error_constructors;
  std::unordered_map<std::string, v8::Global<v8::Module>> sys_modules;
  std::string definition;
  std::shared_ptr<const module_image> image;
  bool cache_rejected = false;  // V8 refused the image's code cache (see module_instance::image)  // its bundle (the module source V8 reads), definition and code cache

  datastore* ds = nullptr;
  transaction* tx = nullptr;  // open only while a reducer runs
  bool in_call = false;       // a reducer or procedure is running (not the module's loading)
  bool in_procedure = false;  // a procedure is running: `tx` is its own, opened and closed through `env`
  std::set<table_id>* reads = nullptr;  // a view is running: it reads only, and its reads are noted here
  name_bindings names;

  struct row_iterator {
    std::vector<std::string_view> rows;
    std::size_t next = 0;
  };
  std::unordered_map<std::uint32_t, row_iterator> iterators;
  std::uint32_t next_iterator = 1;
  std::unordered_map<std::uint32_t, std::pair<std::string, std::chrono::steady_clock::time_point>> timers;
  std::uint32_t next_timer = 1;

  // What the running call used of its per-call allowances.
  std::size_t scheduled_this_call = 0;
  std::size_t log_lines_this_call = 0;

  bool broken = false;
  bool out_of_heap = false;
  std::string fatal_error;      // what V8 reported through the fatal error handler, if it did

  /// Resets the per-call state; `transaction` is null while the module loads.
  void begin_call(transaction* transaction);
  /// Drops what the call left open (iterators, timers) and its transaction.
  void end_call();

  ~impl();
};

/// True for the syscall modules a bundle may import: spacetime:sys@1.0 to
/// @1.3 and @2.0 to @2.1.
bool is_sys_module(const std::string& specifier);
/// The synthetic module for `specifier` (one is_sys_module accepts); empty
/// with an exception pending if V8 refused to make it.
v8::MaybeLocal<v8::Module> make_sys_module(module_instance::impl& state, const std::string& specifier);
/// The JavaScript run before any module: TextEncoder/TextDecoder, ES2025 Set
/// methods, Symbol.dispose, and the Math.random guard.
extern const char* const polyfill_source;

/// What hooks are called on: the hooks object for v2 modules, nothing for v1.
v8::Local<v8::Value> hook_receiver(module_instance::impl& state);

/// BigInt of a little-endian unsigned integer of `count` 64-bit words; empty
/// with an exception pending (or execution terminating) if V8 refused.
v8::MaybeLocal<v8::BigInt> big_unsigned(v8::Local<v8::Context> ctx, const std::uint64_t* words, int count);

/// A new ArrayBuffer of `length` bytes from the isolate's budget; throws a
/// RangeError in the module and returns empty if the budget cannot hold it.
/// (V8's own ArrayBuffer::New aborts the process when the allocator refuses.)
v8::MaybeLocal<v8::ArrayBuffer> new_array_buffer(module_instance::impl& state, std::size_t length);

/// A V8 string of host text that embeds at most a few clipped module strings
/// (see `clip`); never fails.
v8::Local<v8::String> host_string(v8::Isolate* isolate, std::string_view text);

/// Module-controlled text for a host message: at most `max_bytes`, marked when cut.
std::string clip(std::string_view text, std::size_t max_bytes = 200);

/// The UTF-8 text of `value` (converted with ToString, which may run module
/// code), at most `max_bytes` of it; false with an exception pending if the
/// conversion threw. `*cut` (if given) says whether text was left out.
bool text_of(v8::Isolate* isolate, v8::Local<v8::Value> value, std::size_t max_bytes, std::string& out,
             bool* cut = nullptr);

} // namespace orrery
