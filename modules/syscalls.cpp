// The spacetime:sys@2.0 and @2.1 modules: the syscalls a module uses to reach
// its database, bound to the transaction of the reducer being called.

#include "modules/detail/instance_state.hpp"

#include "runtime/bsatn.hpp"

#include <cstring>

namespace orrery {
namespace {

using args_t = v8::FunctionCallbackInfo<v8::Value>;
using state_t = module_instance::impl;

state_t& state_of(const args_t& args) { return *static_cast<state_t*>(args.Data().As<v8::External>()->Value()); }

v8::Local<v8::String> str(v8::Isolate* isolate, std::string_view s) {
  return v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, int(s.size())).ToLocalChecked();
}

// Throws the library's error class for `code` (its errno), or a plain Error.
void throw_code(state_t& s, errc code, const std::string& message) {
  v8::Isolate* isolate = s.isolate;
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  int errno_value = int(code) < 100 ? int(code) : int(errc::host_call_failure);
  if (!s.error_constructor_of.IsEmpty()) {
    auto& cached = s.error_constructors[errno_value];
    if (cached.IsEmpty()) {
      v8::Local<v8::Value> argv[1] = {v8::Integer::New(isolate, errno_value)};
      v8::Local<v8::Value> ctor;
      if (s.error_constructor_of.Get(isolate)->Call(ctx, s.hooks.Get(isolate), 1, argv).ToLocal(&ctor))
        cached.Reset(isolate, ctor);
    }
    if (!cached.IsEmpty()) {
      v8::Local<v8::Value> ctor = cached.Get(isolate);
      v8::Local<v8::Value> text = str(isolate, message);
      v8::Local<v8::Object> error;
      if (ctor->IsFunction() && ctor.As<v8::Function>()->NewInstance(ctx, 1, &text).ToLocal(&error)) {
        isolate->ThrowException(error);
        return;
      }
    }
  }
  isolate->ThrowException(v8::Exception::Error(str(isolate, message)));
}

void throw_failure(state_t& s, const failure& f) { throw_code(s, f.code, f.message); }

void type_error(v8::Isolate* isolate, const std::string& message) {
  isolate->ThrowException(v8::Exception::TypeError(str(isolate, message)));
}

bool u32_arg(const args_t& args, int i, std::uint32_t& out) {
  if (!args[i]->IsNumber()) {
    type_error(args.GetIsolate(), "argument " + std::to_string(i + 1) + " must be a number");
    return false;
  }
  out = args[i]->Uint32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(0);
  return true;
}

bool buffer_arg(const args_t& args, int i, std::uint32_t length, char*& data) {
  if (!args[i]->IsArrayBuffer()) {
    type_error(args.GetIsolate(), "argument " + std::to_string(i + 1) + " must be an ArrayBuffer");
    return false;
  }
  auto buffer = args[i].As<v8::ArrayBuffer>();
  if (length > buffer->ByteLength()) {
    args.GetIsolate()->ThrowException(v8::Exception::RangeError(
      str(args.GetIsolate(), "length " + std::to_string(length) + " is past the end of the buffer")));
    return false;
  }
  data = static_cast<char*>(buffer->Data());
  return true;
}

bool in_transaction(state_t& s) {
  if (s.tx) return true;
  throw_code(s, errc::not_in_transaction, "this syscall needs a transaction: call it from a reducer");
  return false;
}

std::string utf8(v8::Isolate* isolate, v8::Local<v8::Value> v) {
  v8::String::Utf8Value text(isolate, v);
  return *text ? std::string(*text, std::size_t(text.length())) : std::string();
}

v8::Local<v8::BigInt> u64_value(v8::Isolate* isolate, std::uint64_t x) { return v8::BigInt::NewFromUnsigned(isolate, x); }

std::uint32_t new_iterator(state_t& s, std::vector<std::string_view> rows) {
  std::uint32_t id = s.next_iterator++;
  s.iterators[id] = {std::move(rows), 0};
  return id;
}

// [prefix][rstart][rend] as the range syscalls pass it.
bool range_args(const args_t& args, range_scan& range) {
  std::uint32_t prefix_len, prefix_elems, start_len, end_len;
  char* data;
  if (!u32_arg(args, 2, prefix_len) || !u32_arg(args, 3, prefix_elems) || !u32_arg(args, 4, start_len) ||
      !u32_arg(args, 5, end_len) || !buffer_arg(args, 1, prefix_len + start_len + end_len, data))
    return false;
  auto parse_bound = [&](std::string_view bytes, bound& b) {
    if (bytes.empty() || std::uint8_t(bytes[0]) > 2) return false;
    b.type = bound::kind(std::uint8_t(bytes[0]));
    b.value = bytes.substr(1);
    return true;
  };
  range.prefix = std::string_view(data, prefix_len);
  range.prefix_columns = prefix_elems;
  std::string_view start(data + prefix_len, start_len);
  std::string_view end = end_len ? std::string_view(data + prefix_len + start_len, end_len) : start;
  if (!parse_bound(start, range.start) || !parse_bound(end, range.end)) {
    throw_code(state_of(args), errc::bsatn_decode, "bad range bound");
    return false;
  }
  return true;
}

// ---- names and counts ----

void table_id_from_name(const args_t& args) {
  state_t& s = state_of(args);
  std::string name = utf8(args.GetIsolate(), args[0]);
  auto it = s.names.tables.find(name);
  if (it == s.names.tables.end()) return throw_code(s, errc::no_such_table, "no such table: `" + name + "`");
  args.GetReturnValue().Set(it->second);
}

void index_id_from_name(const args_t& args) {
  state_t& s = state_of(args);
  std::string name = utf8(args.GetIsolate(), args[0]);
  auto it = s.names.indexes.find(name);
  if (it == s.names.indexes.end()) return throw_code(s, errc::no_such_index, "no such index: `" + name + "`");
  args.GetReturnValue().Set(it->second);
}

void table_row_count(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table;
  if (!u32_arg(args, 0, table) || !in_transaction(s)) return;
  auto n = s.tx->row_count(table);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(u64_value(args.GetIsolate(), *n));
}

// ---- scans ----

void table_scan(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table;
  if (!u32_arg(args, 0, table) || !in_transaction(s)) return;
  auto rows = s.tx->scan(table);
  if (!rows) return throw_failure(s, rows.error());
  args.GetReturnValue().Set(new_iterator(s, std::move(*rows)));
}

void index_scan_point(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, len;
  char* data;
  if (!u32_arg(args, 0, index) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) || !in_transaction(s))
    return;
  auto rows = s.tx->scan_point(index, std::string_view(data, len));
  if (!rows) return throw_failure(s, rows.error());
  args.GetReturnValue().Set(new_iterator(s, std::move(*rows)));
}

void index_scan_range(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index;
  range_scan range;
  if (!u32_arg(args, 0, index) || !range_args(args, range) || !in_transaction(s)) return;
  auto rows = s.tx->scan_range(index, range);
  if (!rows) return throw_failure(s, rows.error());
  args.GetReturnValue().Set(new_iterator(s, std::move(*rows)));
}

// Copies whole rows into the buffer: > 0 bytes written and more remain,
// < 0 minus bytes written and done, 0 done with nothing written.
void iter_advance(const args_t& args) {
  state_t& s = state_of(args);
  v8::Isolate* isolate = args.GetIsolate();
  std::uint32_t id;
  if (!u32_arg(args, 0, id)) return;
  if (!args[1]->IsArrayBuffer()) return type_error(isolate, "argument 2 must be an ArrayBuffer");
  auto it = s.iterators.find(id);
  if (it == s.iterators.end()) return throw_code(s, errc::no_such_iterator, "no such iterator: " + std::to_string(id));
  auto buffer = args[1].As<v8::ArrayBuffer>();
  char* out = static_cast<char*>(buffer->Data());
  std::size_t capacity = buffer->ByteLength(), written = 0;
  auto& iter = it->second;
  while (iter.next < iter.rows.size() && written + iter.rows[iter.next].size() <= capacity) {
    std::memcpy(out + written, iter.rows[iter.next].data(), iter.rows[iter.next].size());
    written += iter.rows[iter.next].size();
    ++iter.next;
  }
  if (iter.next < iter.rows.size()) {
    if (written == 0) {
      v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
      v8::Local<v8::Object> too_small = v8::Object::New(isolate);
      (void)too_small->Set(ctx, str(isolate, "__buffer_too_small__"),
                           v8::Integer::NewFromUnsigned(isolate, std::uint32_t(iter.rows[iter.next].size())));
      isolate->ThrowException(too_small);
      return;
    }
    args.GetReturnValue().Set(std::int32_t(written));
    return;
  }
  s.iterators.erase(it);
  args.GetReturnValue().Set(-std::int32_t(written));
}

void iter_close(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t id;
  if (!u32_arg(args, 0, id)) return;
  s.iterators.erase(id);
}

// ---- writes ----

// Writes generated column values back over the start of the row buffer.
void write_back(const args_t& args, char* data, const std::string& generated) {
  std::memcpy(data, generated.data(), generated.size());
  args.GetReturnValue().Set(std::uint32_t(generated.size()));
}

void insert(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table, len;
  char* data;
  if (!u32_arg(args, 0, table) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) || !in_transaction(s))
    return;
  auto generated = s.tx->insert(table, std::string_view(data, len));
  if (!generated) return throw_failure(s, generated.error());
  write_back(args, data, *generated);
}

void update(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table, index, len;
  char* data;
  if (!u32_arg(args, 0, table) || !u32_arg(args, 1, index) || !u32_arg(args, 3, len) ||
      !buffer_arg(args, 2, len, data) || !in_transaction(s))
    return;
  auto generated = s.tx->update(table, index, std::string_view(data, len));
  if (!generated) return throw_failure(s, generated.error());
  write_back(args, data, *generated);
}

void delete_point(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, len;
  char* data;
  if (!u32_arg(args, 0, index) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) || !in_transaction(s))
    return;
  auto n = s.tx->delete_point(index, std::string_view(data, len));
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(*n);
}

void delete_range(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index;
  range_scan range;
  if (!u32_arg(args, 0, index) || !range_args(args, range) || !in_transaction(s)) return;
  auto n = s.tx->delete_range(index, range);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(*n);
}

// Payload: u32 count, then that many rows.
void delete_all_by_eq(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table_number, len;
  char* data;
  if (!u32_arg(args, 0, table_number) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) ||
      !in_transaction(s))
    return;
  const table* t = s.ds->find_table(table_number);
  if (!t) return throw_code(s, errc::no_such_table, "no table with id " + std::to_string(table_number));
  std::uint32_t deleted = 0;
  try {
    bsatn_reader in(std::string_view(data, len));
    std::uint32_t count = in.u32();
    for (std::uint32_t i = 0; i < count; ++i) {
      const char* start = in.position();
      skip_value(t->row_type(), in);
      auto removed = s.tx->delete_row(table_number, std::string_view(start, std::size_t(in.position() - start)));
      if (!removed) return throw_failure(s, removed.error());
      deleted += *removed ? 1 : 0;
    }
  } catch (const bsatn_error& e) {
    return throw_code(s, errc::bsatn_decode, e.what());
  }
  args.GetReturnValue().Set(deleted);
}

void clear(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table;
  if (!u32_arg(args, 0, table) || !in_transaction(s)) return;
  auto n = s.tx->clear(table);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(u64_value(args.GetIsolate(), *n));
}

// ---- everything else ----

void schedule_immediate(const args_t& args) {
  state_t& s = state_of(args);
  std::string name = utf8(args.GetIsolate(), args[0]);
  if (!args[1]->IsArrayBufferView()) return type_error(args.GetIsolate(), "argument 2 must be a Uint8Array");
  auto view = args[1].As<v8::ArrayBufferView>();
  std::string bytes(view->ByteLength(), '\0');
  view->CopyContents(bytes.data(), bytes.size());
  s.env->schedule_immediate(std::move(name), std::move(bytes));
}

void console_log(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t level;
  if (!u32_arg(args, 0, level)) return;
  s.env->log(log_level(level), utf8(args.GetIsolate(), args[1]));
}

void timer_start(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t id = s.next_timer++;
  s.timers[id] = {utf8(args.GetIsolate(), args[0]), std::chrono::steady_clock::now()};
  args.GetReturnValue().Set(id);
}

void timer_end(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t id;
  if (!u32_arg(args, 0, id)) return;
  auto it = s.timers.find(id);
  if (it == s.timers.end()) return throw_code(s, errc(7), "no such console timer: " + std::to_string(id));
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - it->second.second);
  s.env->log(log_level::info, "Timing span \"" + it->second.first + "\": " + std::to_string(micros.count() / 1000.0) + " ms");
  s.timers.erase(it);
}

void database_identity(const args_t& args) {
  state_t& s = state_of(args);
  identity id = s.env->database_identity();
  std::uint64_t words[4];
  for (int w = 0; w < 4; ++w) {
    std::uint64_t word = 0;
    for (int b = 0; b < 8; ++b) word = word << 8 | id.bytes[std::size_t((3 - w) * 8 + b)];
    words[w] = word;
  }
  args.GetReturnValue().Set(big_unsigned(args.GetIsolate()->GetCurrentContext(), words, 4));
}

void jwt_payload(const args_t& args) {
  state_t& s = state_of(args);
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsBigInt()) return type_error(isolate, "argument 1 must be a bigint connection id");
  std::uint64_t words[2] = {0, 0};
  int sign = 0, count = 2;
  args[0].As<v8::BigInt>()->ToWordsArray(&sign, &count, words);
  connection_id c;
  for (int w = 0; w < 2; ++w)
    for (int b = 0; b < 8; ++b) c.bytes[std::size_t((1 - w) * 8 + b)] = std::uint8_t(words[w] >> (8 * (7 - b)));
  std::string payload = s.env->jwt_payload(c);
  auto buffer = v8::ArrayBuffer::New(isolate, payload.size());
  if (!payload.empty()) std::memcpy(buffer->Data(), payload.data(), payload.size());
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, payload.size()));
}

void not_supported(const args_t& args) {
  throw_code(state_of(args), errc::host_call_failure, "procedures are not supported by this host yet");
}

void register_hooks(const args_t&) {}

struct syscall {
  const char* name;
  v8::FunctionCallback fn;
};

const syscall sys_2_0[] = {
  {"table_id_from_name", table_id_from_name},
  {"index_id_from_name", index_id_from_name},
  {"datastore_table_row_count", table_row_count},
  {"datastore_table_scan_bsatn", table_scan},
  {"datastore_index_scan_point_bsatn", index_scan_point},
  {"datastore_index_scan_range_bsatn", index_scan_range},
  {"row_iter_bsatn_advance", iter_advance},
  {"row_iter_bsatn_close", iter_close},
  {"datastore_insert_bsatn", insert},
  {"datastore_update_bsatn", update},
  {"datastore_delete_by_index_scan_point_bsatn", delete_point},
  {"datastore_delete_by_index_scan_range_bsatn", delete_range},
  {"datastore_delete_all_by_eq_bsatn", delete_all_by_eq},
  {"volatile_nonatomic_schedule_immediate", schedule_immediate},
  {"console_log", console_log},
  {"console_timer_start", timer_start},
  {"console_timer_end", timer_end},
  {"identity", database_identity},
  {"get_jwt_payload", jwt_payload},
  {"procedure_http_request", not_supported},
  {"procedure_start_mut_tx", not_supported},
  {"procedure_commit_mut_tx", not_supported},
  {"procedure_abort_mut_tx", not_supported},
  {"register_hooks", register_hooks},
};

const syscall sys_2_1[] = {
  {"datastore_clear", clear},
};

v8::MaybeLocal<v8::Value> set_exports(v8::Local<v8::Context> ctx, v8::Local<v8::Module> module) {
  v8::Isolate* isolate = ctx->GetIsolate();
  auto* s = static_cast<state_t*>(isolate->GetData(0));
  auto data = v8::External::New(isolate, s);
  bool v2_0 = module->GetIdentityHash() == s->sys_modules_hash_2_0;
  auto exports = [&](const syscall* begin, const syscall* end) {
    for (auto* c = begin; c != end; ++c) {
      auto fn = v8::Function::New(ctx, c->fn, data).ToLocalChecked();
      module->SetSyntheticModuleExport(isolate, str(isolate, c->name), fn).Check();
    }
  };
  if (v2_0) {
    exports(std::begin(sys_2_0), std::end(sys_2_0));
    module->SetSyntheticModuleExport(isolate, str(isolate, "moduleHooks"), s->hooks_symbol.Get(isolate)).Check();
  } else {
    exports(std::begin(sys_2_1), std::end(sys_2_1));
  }
  auto resolver = v8::Promise::Resolver::New(ctx).ToLocalChecked();
  (void)resolver->Resolve(ctx, v8::Undefined(isolate));
  return resolver->GetPromise();
}

} // namespace

v8::Local<v8::Module> make_sys_module(state_t& s, const std::string& specifier) {
  v8::Isolate* isolate = s.isolate;
  std::vector<v8::Local<v8::String>> names;
  bool v2_0 = specifier == "spacetime:sys@2.0";
  if (v2_0) {
    for (auto& c : sys_2_0) names.push_back(str(isolate, c.name));
    names.push_back(str(isolate, "moduleHooks"));
    if (s.hooks_symbol.IsEmpty()) s.hooks_symbol.Reset(isolate, v8::Symbol::New(isolate, str(isolate, "moduleHooks")));
  } else {
    for (auto& c : sys_2_1) names.push_back(str(isolate, c.name));
  }
  v8::Local<v8::Module> m = v8::Module::CreateSyntheticModule(isolate, str(isolate, specifier), names, set_exports);
  if (v2_0) s.sys_modules_hash_2_0 = m->GetIdentityHash();
  return m;
}

} // namespace orrery
