#pragma once
// Private to modules/: the V8 state behind a module_instance, shared by the
// loader (module_host.cpp) and the syscalls (syscalls.cpp).

#include "modules/module_host.hpp"

#include <v8.h>

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace orrery {

struct module_instance::impl {
  module_environment* env = nullptr;
  module_limits limits;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  v8::Global<v8::Module> module;
  v8::Global<v8::Symbol> hooks_symbol;
  v8::Global<v8::Object> hooks;
  v8::Global<v8::Function> call_reducer;
  v8::Global<v8::Function> error_constructor_of;  // hooks.__get_error_constructor__
  v8::Global<v8::Value> sender_error_class;
  std::unordered_map<int, v8::Global<v8::Value>> error_constructors;
  std::unordered_map<std::string, v8::Global<v8::Module>> sys_modules;
  int sys_modules_hash_2_0 = 0;  // tells the two synthetic modules apart when they evaluate
  std::string definition;

  datastore* ds = nullptr;
  transaction* tx = nullptr;  // open only while a reducer runs
  name_bindings names;

  struct row_iterator {
    std::vector<std::string_view> rows;
    std::size_t next = 0;
  };
  std::unordered_map<std::uint32_t, row_iterator> iterators;
  std::uint32_t next_iterator = 1;
  std::unordered_map<std::uint32_t, std::pair<std::string, std::chrono::steady_clock::time_point>> timers;
  std::uint32_t next_timer = 1;

  bool broken = false;
  bool out_of_heap = false;

  ~impl();
};

/// Installs the spacetime:sys@2.0 / @2.1 synthetic modules' exports.
v8::Local<v8::Module> make_sys_module(module_instance::impl& state, const std::string& specifier);
/// The JavaScript run before any module: TextEncoder/TextDecoder, ES2025 Set
/// methods, Symbol.dispose, and the Math.random guard.
extern const char* const polyfill_source;

/// BigInt of a little-endian unsigned integer of `words` 64-bit words.
v8::Local<v8::BigInt> big_unsigned(v8::Local<v8::Context> ctx, const std::uint64_t* words, int count);

} // namespace orrery
