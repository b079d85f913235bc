// The spacetime:sys modules: the syscalls a module uses to reach its
// database, bound to the transaction of the reducer being called. @2.0 and
// @2.1 serve the 2.x library; @1.0 to @1.3 the 1.x library, which passes
// bytes as Uint8Arrays and gets new ones back instead of writing into its
// buffers.
//
// Every argument comes from module code and may be anything: each syscall
// checks types and ranges before it touches memory (offsets and lengths in
// 64-bit arithmetic, every byte range inside its buffer) and answers bad
// input with a TypeError, a RangeError or the ABI's errno error. No C++
// exception leaves a syscall: V8 cannot unwind through its frames.

#include "modules/detail/instance_state.hpp"

#include "runtime/types/bsatn.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <new>

namespace orrery {
namespace {

using args_t = v8::FunctionCallbackInfo<v8::Value>;
using state_t = module_instance::impl;

constexpr std::size_t max_name_bytes = 4096;  // table, index, reducer and timer names

state_t& state_of(const args_t& args) { return *static_cast<state_t*>(args.Data().As<v8::External>()->Value()); }

v8::Local<v8::String> str(v8::Isolate* isolate, std::string_view s) { return host_string(isolate, s); }

// Throws the library's error class for `code` (its errno), or a plain Error.
void throw_code(state_t& s, errc code, const std::string& message) {
  v8::Isolate* isolate = s.isolate;
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  int errno_value = int(code) < 100 ? int(code) : int(errc::host_call_failure);
  if (s.abi == module_abi::v1) {  // a plain object the 1.x library turns into its own error
    if (code == errc::wrong_index_algorithm) errno_value = int(errc::host_call_failure);  // not in its table
    v8::Local<v8::Object> error = v8::Object::New(isolate);
    if (error->CreateDataProperty(ctx, str(isolate, "__code_error__"), v8::Integer::New(isolate, errno_value)).IsNothing() ||
        error->CreateDataProperty(ctx, str(isolate, "__error_message__"), str(isolate, message)).IsNothing())
      return;
    isolate->ThrowException(error);
    return;
  }
  if (!s.error_constructor_of.IsEmpty() && !s.hooks.IsEmpty()) {
    auto& cached = s.error_constructors[errno_value];
    if (cached.IsEmpty()) {
      v8::Local<v8::Value> argv[1] = {v8::Integer::New(isolate, errno_value)};
      v8::Local<v8::Value> ctor;
      if (s.error_constructor_of.Get(isolate)->Call(ctx, s.hooks.Get(isolate), 1, argv).ToLocal(&ctor))
        cached.Reset(isolate, ctor);
    }
    if (isolate->IsExecutionTerminating()) return;
    if (!cached.IsEmpty()) {
      v8::Local<v8::Value> ctor = cached.Get(isolate);
      v8::Local<v8::Value> text = str(isolate, message);
      v8::Local<v8::Object> error;
      if (ctor->IsFunction() && ctor.As<v8::Function>()->NewInstance(ctx, 1, &text).ToLocal(&error)) {
        isolate->ThrowException(error);
        return;
      }
      if (isolate->IsExecutionTerminating()) return;
    }
  }
  isolate->ThrowException(v8::Exception::Error(str(isolate, message)));
}

void throw_failure(state_t& s, const failure& f) { throw_code(s, f.code, f.message); }

void type_error(v8::Isolate* isolate, const std::string& message) {
  isolate->ThrowException(v8::Exception::TypeError(str(isolate, message)));
}

void range_error(v8::Isolate* isolate, const std::string& message) {
  isolate->ThrowException(v8::Exception::RangeError(str(isolate, message)));
}

std::string argument(int i) { return "argument " + std::to_string(i + 1); }

// An integer in [0, max]: a TypeError for a non-number, a RangeError for a
// fraction, a negative, NaN or anything past `max`.
bool integer_arg(const args_t& args, int i, std::uint64_t max, std::uint64_t& out) {
  if (!args[i]->IsNumber()) {
    type_error(args.GetIsolate(), argument(i) + " must be a number");
    return false;
  }
  const double d = args[i].As<v8::Number>()->Value();
  if (!(d >= 0 && d <= double(max) && std::floor(d) == d)) {
    range_error(args.GetIsolate(), argument(i) + " must be a whole number from 0 to " + std::to_string(max));
    return false;
  }
  out = std::uint64_t(d);
  if (out > max) out = max;  // double(max) may round up
  return true;
}

bool u32_arg(const args_t& args, int i, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (!integer_arg(args, i, std::numeric_limits<std::uint32_t>::max(), v)) return false;
  out = std::uint32_t(v);
  return true;
}

// Bytes [0, length) of the ArrayBuffer argument `i`.
bool buffer_arg(const args_t& args, int i, std::uint64_t length, char*& data) {
  if (!args[i]->IsArrayBuffer()) {
    type_error(args.GetIsolate(), argument(i) + " must be an ArrayBuffer");
    return false;
  }
  auto buffer = args[i].As<v8::ArrayBuffer>();
  if (length > buffer->ByteLength()) {
    range_error(args.GetIsolate(), "length " + std::to_string(length) + " is past the end of the " +
                                     std::to_string(buffer->ByteLength()) + "-byte buffer");
    return false;
  }
  data = static_cast<char*>(buffer->Data());
  if (!data && length > 0) {
    range_error(args.GetIsolate(), "the buffer has no memory (was it transferred?)");
    return false;
  }
  static char empty = 0;
  if (!data) data = &empty;  // a zero-length view needs a pointer
  return true;
}

// A name argument: text of at most max_name_bytes.
bool name_arg(const args_t& args, int i, std::string& out) {
  bool cut = false;
  if (!text_of(args.GetIsolate(), args[i], max_name_bytes, out, &cut)) return false;
  if (cut) {
    range_error(args.GetIsolate(), argument(i) + " is longer than " + std::to_string(max_name_bytes) +
                                     " bytes: no name is that long");
    return false;
  }
  return true;
}

bool in_transaction(state_t& s) {
  if (s.tx && s.ds) return true;
  throw_code(s, errc::not_in_transaction, "this syscall needs a transaction: call it from a reducer");
  return false;
}

// Views read only: a write fails.
bool writable(state_t& s) {
  if (!in_transaction(s)) return false;
  if (!s.reads) return true;
  throw_code(s, errc::host_call_failure, "a view cannot change the database");
  return false;
}

// A view's reads decide when it is evaluated again.
void note_read(state_t& s, table_id table) {
  if (s.reads) s.reads->insert(table);
}

void note_index_read(state_t& s, index_id index) {
  if (!s.reads) return;
  if (auto [t, ix] = s.ds->find_index(index); t) s.reads->insert(t->schema().id);
}

v8::Local<v8::BigInt> u64_value(v8::Isolate* isolate, std::uint64_t x) { return v8::BigInt::NewFromUnsigned(isolate, x); }

bool new_iterator(state_t& s, std::vector<std::string_view> rows, std::uint32_t& id) {
  if (s.iterators.size() >= s.limits.max_open_iterators) {
    throw_code(s, errc::host_call_failure,
               "this call has " + std::to_string(s.iterators.size()) +
                 " row iterators open, the most one call may hold; finish or close iterators before starting more");
    return false;
  }
  do id = s.next_iterator++;
  while (id == 0 || s.iterators.count(id));
  s.iterators[id] = {std::move(rows), 0};
  return true;
}

bool parse_bound(std::string_view bytes, bound& b) {
  if (bytes.empty() || std::uint8_t(bytes[0]) > 2) return false;
  b.type = bound::kind(std::uint8_t(bytes[0]));
  b.value = bytes.substr(1);
  return true;
}

// [prefix][rstart][rend] as the range syscalls pass it.
bool range_args(const args_t& args, range_scan& range) {
  std::uint32_t prefix_len, prefix_elems, start_len, end_len;
  char* data;
  if (!u32_arg(args, 2, prefix_len) || !u32_arg(args, 3, prefix_elems) || !u32_arg(args, 4, start_len) ||
      !u32_arg(args, 5, end_len))
    return false;
  const std::uint64_t total = std::uint64_t(prefix_len) + start_len + end_len;  // no u32 wrap-around
  if (!buffer_arg(args, 1, total, data)) return false;
  range.prefix = std::string_view(data, prefix_len);
  range.prefix_columns = prefix_elems;
  std::string_view start(data + prefix_len, start_len);
  std::string_view end = end_len ? std::string_view(data + std::size_t(prefix_len) + start_len, end_len) : start;
  if (!parse_bound(start, range.start) || !parse_bound(end, range.end)) {
    throw_code(state_of(args), errc::bsatn_decode, "bad range bound: expected a tag 0, 1 or 2 and its value");
    return false;
  }
  return true;
}

// ---- names and counts ----

void table_id_from_name(const args_t& args) {
  state_t& s = state_of(args);
  std::string name;
  if (!name_arg(args, 0, name)) return;
  auto it = s.names.tables.find(name);
  if (it == s.names.tables.end()) return throw_code(s, errc::no_such_table, "no such table: `" + clip(name) + "`");
  args.GetReturnValue().Set(it->second);
}

void index_id_from_name(const args_t& args) {
  state_t& s = state_of(args);
  std::string name;
  if (!name_arg(args, 0, name)) return;
  auto it = s.names.indexes.find(name);
  if (it == s.names.indexes.end()) return throw_code(s, errc::no_such_index, "no such index: `" + clip(name) + "`");
  args.GetReturnValue().Set(it->second);
}

void table_row_count(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table;
  if (!u32_arg(args, 0, table) || !in_transaction(s)) return;
  note_read(s, table);
  auto n = s.tx->row_count(table);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(u64_value(args.GetIsolate(), *n));
}

// ---- scans ----

void table_scan(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table, id;
  if (!u32_arg(args, 0, table) || !in_transaction(s)) return;
  note_read(s, table);
  auto rows = s.tx->scan(table);
  if (!rows) return throw_failure(s, rows.error());
  if (new_iterator(s, std::move(*rows), id)) args.GetReturnValue().Set(id);
}

void index_scan_point(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, len, id;
  char* data;
  if (!u32_arg(args, 0, index) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) || !in_transaction(s))
    return;
  note_index_read(s, index);
  auto rows = s.tx->scan_point(index, std::string_view(data, len));
  if (!rows) return throw_failure(s, rows.error());
  if (new_iterator(s, std::move(*rows), id)) args.GetReturnValue().Set(id);
}

void index_scan_range(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, id;
  range_scan range;
  if (!u32_arg(args, 0, index) || !range_args(args, range) || !in_transaction(s)) return;
  note_index_read(s, index);
  auto rows = s.tx->scan_range(index, range);
  if (!rows) return throw_failure(s, rows.error());
  if (new_iterator(s, std::move(*rows), id)) args.GetReturnValue().Set(id);
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
  // The count is returned as an i32.
  const std::size_t capacity =
    out ? std::min<std::size_t>(buffer->ByteLength(), std::size_t(std::numeric_limits<std::int32_t>::max())) : 0;
  std::size_t written = 0;
  auto& iter = it->second;
  while (iter.next < iter.rows.size() && iter.rows[iter.next].size() <= capacity - written) {
    std::memcpy(out + written, iter.rows[iter.next].data(), iter.rows[iter.next].size());
    written += iter.rows[iter.next].size();
    ++iter.next;
  }
  if (iter.next < iter.rows.size()) {
    if (written == 0) {
      v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
      v8::Local<v8::Object> too_small = v8::Object::New(isolate);
      const double needed = double(iter.rows[iter.next].size());
      if (too_small->Set(ctx, str(isolate, "__buffer_too_small__"), v8::Number::New(isolate, needed)).IsNothing())
        return;
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

// Writes generated column values back over the start of the row buffer
// (`capacity` bytes long).
void write_back(const args_t& args, char* data, std::size_t capacity, const std::string& generated) {
  if (generated.size() > capacity)
    return throw_code(state_of(args), errc(11), "the row buffer is too small for the generated values");
  if (!generated.empty()) std::memcpy(data, generated.data(), generated.size());
  args.GetReturnValue().Set(std::uint32_t(generated.size()));
}

void insert(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table, len;
  char* data;
  if (!u32_arg(args, 0, table) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) || !writable(s))
    return;
  auto generated = s.tx->insert(table, std::string_view(data, len));
  if (!generated) return throw_failure(s, generated.error());
  write_back(args, data, len, *generated);
}

void update(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table, index, len;
  char* data;
  if (!u32_arg(args, 0, table) || !u32_arg(args, 1, index) || !u32_arg(args, 3, len) ||
      !buffer_arg(args, 2, len, data) || !writable(s))
    return;
  auto generated = s.tx->update(table, index, std::string_view(data, len));
  if (!generated) return throw_failure(s, generated.error());
  write_back(args, data, len, *generated);
}

void delete_point(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, len;
  char* data;
  if (!u32_arg(args, 0, index) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) || !writable(s))
    return;
  auto n = s.tx->delete_point(index, std::string_view(data, len));
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(*n);
}

void delete_range(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index;
  range_scan range;
  if (!u32_arg(args, 0, index) || !range_args(args, range) || !writable(s)) return;
  auto n = s.tx->delete_range(index, range);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(*n);
}

// Payload: u32 count, then that many rows.
void delete_rows(const args_t& args, std::uint32_t table_number, std::string_view payload) {
  state_t& s = state_of(args);
  const table* t = s.ds->find_table(table_number);
  if (!t) return throw_code(s, errc::no_such_table, "no table with id " + std::to_string(table_number));
  std::uint32_t deleted = 0;
  try {
    bsatn_reader in(payload);
    std::uint32_t count = in.u32();
    for (std::uint32_t i = 0; i < count; ++i) {
      const char* start = in.position();
      skip_value(t->row_type(), in);
      auto removed = s.tx->delete_row(table_number, std::string_view(start, std::size_t(in.position() - start)));
      if (!removed) return throw_failure(s, removed.error());
      deleted += *removed ? 1 : 0;
      if (in.position() == start) break;  // rows of no bytes are all the same row: the rest are no-ops
    }
  } catch (const bsatn_error& e) {
    return throw_code(s, errc::bsatn_decode, e.what());
  }
  args.GetReturnValue().Set(deleted);
}

void delete_all_by_eq(const args_t& args) {
  std::uint32_t table_number, len;
  char* data;
  if (!u32_arg(args, 0, table_number) || !u32_arg(args, 2, len) || !buffer_arg(args, 1, len, data) ||
      !writable(state_of(args)))
    return;
  delete_rows(args, table_number, std::string_view(data, len));
}

void clear(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table;
  if (!u32_arg(args, 0, table) || !writable(s)) return;
  auto n = s.tx->clear(table);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(u64_value(args.GetIsolate(), *n));
}

// ---- everything else ----

void schedule_immediate(const args_t& args) {
  state_t& s = state_of(args);
  std::string name;
  if (!name_arg(args, 0, name)) return;
  if (!args[1]->IsArrayBufferView()) return type_error(args.GetIsolate(), "argument 2 must be a Uint8Array");
  if (!s.in_call || s.reads)
    return throw_code(s, errc::not_in_transaction, "reducers can be scheduled only from a running reducer");
  if (s.scheduled_this_call >= s.limits.max_scheduled_per_call)
    return throw_code(s, errc::host_call_failure,
                      "this call already scheduled " + std::to_string(s.scheduled_this_call) +
                        " reducers, the most one call may schedule");
  auto view = args[1].As<v8::ArrayBufferView>();
  std::string bytes(view->ByteLength(), '\0');
  view->CopyContents(bytes.data(), bytes.size());
  ++s.scheduled_this_call;
  s.env->schedule_immediate(std::move(name), std::move(bytes));
}

void console_log(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t level;
  if (!u32_arg(args, 0, level)) return;
  std::string text;
  bool cut = false;
  if (!text_of(args.GetIsolate(), args[1], s.limits.max_log_line_bytes, text, &cut)) return;
  if (cut) text += " …(line cut at " + std::to_string(s.limits.max_log_line_bytes) + " bytes)";
  if (level > 4 && level != 101) level = 2;  // unknown levels log as info
  if (s.log_lines_this_call == s.limits.max_log_lines_per_call)
    s.env->log(log_level::warn, "this call wrote " + std::to_string(s.log_lines_this_call) +
                                  " log lines, the most one call may write; its later lines are dropped");
  if (s.log_lines_this_call++ >= s.limits.max_log_lines_per_call) return;
  s.env->log(log_level(level), text);
}

void timer_start(const args_t& args) {
  state_t& s = state_of(args);
  std::string name;
  bool cut = false;
  if (!text_of(args.GetIsolate(), args[0], max_name_bytes, name, &cut)) return;
  if (s.timers.size() >= s.limits.max_console_timers)
    return throw_code(s, errc::host_call_failure,
                      "this call has " + std::to_string(s.timers.size()) +
                        " console timers running, the most one call may hold; end some first");
  std::uint32_t id;
  do id = s.next_timer++;
  while (id == 0 || s.timers.count(id));
  s.timers[id] = {std::move(name), std::chrono::steady_clock::now()};
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

v8::MaybeLocal<v8::BigInt> database_identity_value(const args_t& args) {
  identity id = state_of(args).env->database_identity();
  std::uint64_t words[4];
  for (int w = 0; w < 4; ++w) {
    std::uint64_t word = 0;
    for (int b = 0; b < 8; ++b) word = word << 8 | id.bytes[std::size_t((3 - w) * 8 + b)];
    words[w] = word;
  }
  return big_unsigned(args.GetIsolate()->GetCurrentContext(), words, 4);
}

void database_identity(const args_t& args) {
  v8::Local<v8::BigInt> value;
  if (database_identity_value(args).ToLocal(&value)) args.GetReturnValue().Set(value);
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
  v8::Local<v8::ArrayBuffer> buffer;
  if (!new_array_buffer(s, payload.size()).ToLocal(&buffer)) return;
  if (!payload.empty()) std::memcpy(buffer->Data(), payload.data(), payload.size());
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, payload.size()));
}

// ---- procedures ----

bool in_procedure(state_t& s) {
  if (s.in_procedure) return true;
  throw_code(s, errc::host_call_failure, "only a running procedure may call this");
  return false;
}

std::int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void start_tx(const args_t& args) {
  state_t& s = state_of(args);
  if (!in_procedure(s)) return;
  if (s.tx) return throw_code(s, errc::would_block_transaction, "the procedure already has a transaction open");
  std::string why;
  transaction* tx = s.env->begin_procedure_tx(why);
  if (!tx) return throw_code(s, errc::host_call_failure, why);
  s.tx = tx;
  args.GetReturnValue().Set(v8::BigInt::New(args.GetIsolate(), now_micros()));
}

void end_tx(const args_t& args, bool commit) {
  state_t& s = state_of(args);
  if (!in_procedure(s)) return;
  if (!s.tx) return throw_code(s, errc::transaction_not_anonymous, "the procedure has no transaction open");
  s.iterators.clear();  // their rows belong to the transaction
  s.tx = nullptr;
  s.env->end_procedure_tx(commit);
}

void commit_tx(const args_t& args) { end_tx(args, true); }
void abort_tx(const args_t& args) { end_tx(args, false); }

// Bytes of a Uint8Array (or any view) argument, or the UTF-8 of a string.
bool bytes_arg(const args_t& args, int i, std::string& out) {
  if (args[i]->IsString()) return text_of(args.GetIsolate(), args[i], std::numeric_limits<std::size_t>::max(), out);
  if (!args[i]->IsArrayBufferView()) {
    type_error(args.GetIsolate(), argument(i) + " must be a Uint8Array or a string");
    return false;
  }
  auto view = args[i].As<v8::ArrayBufferView>();
  out.resize(view->ByteLength());
  view->CopyContents(out.data(), out.size());
  return true;
}

const char* const http_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

// HttpRequest BSATN: method, headers, timeout, uri, version (lib/autogen/types.ts).
http_fetch_request read_http_request(std::string_view bytes) {
  bsatn_reader in(bytes);
  http_fetch_request r;
  std::uint8_t method = in.u8();
  if (method < 9) r.method = http_methods[method];
  else if (method == 9) r.method = std::string(in.string());
  else throw bsatn_error("unknown HTTP method tag " + std::to_string(method));
  for (std::uint32_t n = in.u32(); n > 0; --n) {
    std::string name(in.string());
    std::uint32_t length = in.u32();
    r.headers.emplace_back(std::move(name), std::string(in.take(length)));
  }
  if (in.u8() == 0) r.timeout = std::chrono::milliseconds(std::max<std::int64_t>(in.fixed<std::int64_t>() / 1000, 1));
  r.uri = std::string(in.string());
  in.u8();  // HTTP version: the host speaks HTTP/1.1
  if (in.remaining() != 0) throw bsatn_error("trailing bytes after the HTTP request");
  return r;
}

v8::MaybeLocal<v8::Uint8Array> uint8_array(state_t& s, std::string_view bytes) {
  v8::Local<v8::ArrayBuffer> buffer;
  if (!new_array_buffer(s, bytes.size()).ToLocal(&buffer)) return {};
  if (!bytes.empty()) std::memcpy(buffer->Data(), bytes.data(), bytes.size());
  return v8::Uint8Array::New(buffer, 0, bytes.size());
}

void http_request(const args_t& args) {
  state_t& s = state_of(args);
  v8::Isolate* isolate = args.GetIsolate();
  if (!in_procedure(s)) return;
  if (s.tx)
    return throw_code(s, errc::would_block_transaction,
                      "a procedure cannot make HTTP requests inside a transaction: commit it first");
  std::string request_bytes, body;
  if (!bytes_arg(args, 0, request_bytes) || !bytes_arg(args, 1, body)) return;
  http_fetch_request request;
  try {
    request = read_http_request(request_bytes);
  } catch (const bsatn_error& e) {
    return type_error(isolate, std::string("failed to decode http request: ") + e.what());
  }
  request.body = std::move(body);
  auto answered = s.env->fetch(request);
  if (!answered) return throw_code(s, errc::http_error, answered.error().message);
  // HttpResponse BSATN: headers, version, code.
  std::string head;
  bsatn_writer w(head);
  w.u32(std::uint32_t(answered->headers.size()));
  for (auto& [name, value] : answered->headers) {
    w.string(name);
    w.u32(std::uint32_t(value.size()));
    w.raw(value);
  }
  w.u8(2);  // HTTP/1.1
  w.fixed(answered->status);
  v8::Local<v8::Uint8Array> parts[2];
  if (!uint8_array(s, head).ToLocal(&parts[0]) || !uint8_array(s, answered->body).ToLocal(&parts[1])) return;
  v8::Local<v8::Value> values[2] = {parts[0], parts[1]};
  args.GetReturnValue().Set(v8::Array::New(isolate, values, 2));
}

void register_hooks(const args_t&) {}

// ---- the 1.x ABI: bytes in and out as Uint8Arrays ----

// A copy of the bytes of the Uint8Array argument `i`. (Reading a small typed
// array in place would make V8 move it into an ArrayBuffer, which may not fit
// the module's budget.)
bool view_arg(const args_t& args, int i, std::string& out) {
  if (!args[i]->IsArrayBufferView()) {
    type_error(args.GetIsolate(), argument(i) + " must be a Uint8Array");
    return false;
  }
  auto view = args[i].As<v8::ArrayBufferView>();
  out.resize(view->ByteLength());
  view->CopyContents(out.data(), out.size());
  return true;
}

void return_bytes(const args_t& args, std::string_view bytes) {
  v8::Local<v8::Uint8Array> array;
  if (uint8_array(state_of(args), bytes).ToLocal(&array)) args.GetReturnValue().Set(array);
}

// (index, prefix, prefix_elems, rstart, rend); `bytes` holds what `range` views.
bool range_args_v1(const args_t& args, range_scan& range, std::string (&bytes)[3]) {
  std::uint32_t prefix_elems;
  if (!view_arg(args, 1, bytes[0]) || !u32_arg(args, 2, prefix_elems) || !view_arg(args, 3, bytes[1]) ||
      !view_arg(args, 4, bytes[2]))
    return false;
  range.prefix = bytes[0];
  range.prefix_columns = prefix_elems;
  if (!parse_bound(bytes[1], range.start) || !parse_bound(bytes[2], range.end)) {
    throw_code(state_of(args), errc::bsatn_decode, "bad range bound: expected a tag 0, 1 or 2 and its value");
    return false;
  }
  return true;
}

void index_scan_point_v1(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, id;
  std::string point;
  if (!u32_arg(args, 0, index) || !view_arg(args, 1, point) || !in_transaction(s)) return;
  note_index_read(s, index);
  auto rows = s.tx->scan_point(index, point);
  if (!rows) return throw_failure(s, rows.error());
  if (new_iterator(s, std::move(*rows), id)) args.GetReturnValue().Set(id);
}

void index_scan_range_v1(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index, id;
  range_scan range;
  std::string bytes[3];
  if (!u32_arg(args, 0, index) || !range_args_v1(args, range, bytes) || !in_transaction(s)) return;
  note_index_read(s, index);
  auto rows = s.tx->scan_range(index, range);
  if (!rows) return throw_failure(s, rows.error());
  if (new_iterator(s, std::move(*rows), id)) args.GetReturnValue().Set(id);
}

// Whole rows of at most `max_len` bytes in all, as {0: done, 1: rows}; done
// may come with rows. Rows remaining that do not fit throw __buffer_too_small__.
void iter_advance_v1(const args_t& args) {
  state_t& s = state_of(args);
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  std::uint32_t id, max_len;
  if (!u32_arg(args, 0, id) || !u32_arg(args, 1, max_len)) return;
  auto it = s.iterators.find(id);
  if (it == s.iterators.end()) return throw_code(s, errc::no_such_iterator, "no such iterator: " + std::to_string(id));
  auto& iter = it->second;
  std::string out;
  while (iter.next < iter.rows.size() && iter.rows[iter.next].size() <= max_len - out.size()) out += iter.rows[iter.next++];
  const bool done = iter.next == iter.rows.size();
  if (!done && out.empty()) {
    v8::Local<v8::Object> too_small = v8::Object::New(isolate);
    const double needed = double(iter.rows[iter.next].size());
    if (too_small->Set(ctx, str(isolate, "__buffer_too_small__"), v8::Number::New(isolate, needed)).IsNothing()) return;
    isolate->ThrowException(too_small);
    return;
  }
  if (done) s.iterators.erase(it);
  v8::Local<v8::Uint8Array> rows;
  if (!uint8_array(s, out).ToLocal(&rows)) return;
  v8::Local<v8::Value> pair[2] = {v8::Boolean::New(isolate, done), rows};
  args.GetReturnValue().Set(v8::Array::New(isolate, pair, 2));
}

void insert_v1(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table;
  std::string row;
  if (!u32_arg(args, 0, table) || !view_arg(args, 1, row) || !writable(s)) return;
  auto generated = s.tx->insert(table, row);
  if (!generated) return throw_failure(s, generated.error());
  return_bytes(args, *generated);
}

void update_v1(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t table, index;
  std::string row;
  if (!u32_arg(args, 0, table) || !u32_arg(args, 1, index) || !view_arg(args, 2, row) || !writable(s)) return;
  auto generated = s.tx->update(table, index, row);
  if (!generated) return throw_failure(s, generated.error());
  return_bytes(args, *generated);
}

void delete_point_v1(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index;
  std::string point;
  if (!u32_arg(args, 0, index) || !view_arg(args, 1, point) || !writable(s)) return;
  auto n = s.tx->delete_point(index, point);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(*n);
}

void delete_range_v1(const args_t& args) {
  state_t& s = state_of(args);
  std::uint32_t index;
  range_scan range;
  std::string bytes[3];
  if (!u32_arg(args, 0, index) || !range_args_v1(args, range, bytes) || !writable(s)) return;
  auto n = s.tx->delete_range(index, range);
  if (!n) return throw_failure(s, n.error());
  args.GetReturnValue().Set(*n);
}

void delete_all_by_eq_v1(const args_t& args) {
  std::uint32_t table_number;
  std::string payload;
  if (!u32_arg(args, 0, table_number) || !view_arg(args, 1, payload) || !writable(state_of(args))) return;
  delete_rows(args, table_number, payload);
}

void database_identity_v1(const args_t& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::BigInt> value;
  if (!database_identity_value(args).ToLocal(&value)) return;
  v8::Local<v8::Object> out = v8::Object::New(isolate);
  if (out->CreateDataProperty(isolate->GetCurrentContext(), str(isolate, "__identity__"), value).IsNothing()) return;
  args.GetReturnValue().Set(out);
}

// register_hooks of @1.0, @1.1 and @1.2: each takes its own hooks, once, all or none.
template <const char* const* names, std::size_t count>
void register_hooks_v1(const args_t& args) {
  state_t& s = state_of(args);
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (!args[0]->IsObject()) return type_error(isolate, "register_hooks takes an object of hook functions");
  if (s.hooks.IsEmpty()) s.hooks.Reset(isolate, v8::Object::New(isolate));
  v8::Local<v8::Object> hooks = s.hooks.Get(isolate);
  v8::Local<v8::Value> functions[count];
  for (std::size_t i = 0; i < count; ++i) {
    v8::Local<v8::String> name = str(isolate, names[i]);
    if (!args[0].As<v8::Object>()->Get(ctx, name).ToLocal(&functions[i])) return;
    if (!functions[i]->IsFunction())
      return type_error(isolate, std::string("register_hooks: `") + names[i] + "` is not a function");
    if (hooks->HasOwnProperty(ctx, name).FromMaybe(true))
      return type_error(isolate, "cannot call `register_hooks` multiple times");
  }
  for (std::size_t i = 0; i < count; ++i)
    if (hooks->CreateDataProperty(ctx, str(isolate, names[i]), functions[i]).IsNothing()) return;
}

constexpr const char* hooks_1_0[] = {"__describe_module__", "__call_reducer__"};
constexpr const char* hooks_1_1[] = {"__call_view__", "__call_view_anon__"};
constexpr const char* hooks_1_2[] = {"__call_procedure__"};

// Runs a syscall; a C++ exception from the engine becomes an error in the module.
template <v8::FunctionCallback call>
void guarded(const args_t& args) {
  try {
    call(args);
  } catch (const bsatn_error& e) {
    throw_code(state_of(args), errc::bsatn_decode, clip(e.what(), 1000));
  } catch (const std::bad_alloc&) {
    throw_code(state_of(args), errc::host_call_failure, "the host ran out of memory for this syscall");
  } catch (const std::exception& e) {
    throw_code(state_of(args), errc::host_call_failure, clip(e.what(), 1000));
  } catch (...) {
    throw_code(state_of(args), errc::host_call_failure, "the syscall failed in the host");
  }
}

struct syscall {
  const char* name;
  v8::FunctionCallback fn;
};

const syscall sys_2_0[] = {
  {"table_id_from_name", guarded<table_id_from_name>},
  {"index_id_from_name", guarded<index_id_from_name>},
  {"datastore_table_row_count", guarded<table_row_count>},
  {"datastore_table_scan_bsatn", guarded<table_scan>},
  {"datastore_index_scan_point_bsatn", guarded<index_scan_point>},
  {"datastore_index_scan_range_bsatn", guarded<index_scan_range>},
  {"row_iter_bsatn_advance", guarded<iter_advance>},
  {"row_iter_bsatn_close", guarded<iter_close>},
  {"datastore_insert_bsatn", guarded<insert>},
  {"datastore_update_bsatn", guarded<update>},
  {"datastore_delete_by_index_scan_point_bsatn", guarded<delete_point>},
  {"datastore_delete_by_index_scan_range_bsatn", guarded<delete_range>},
  {"datastore_delete_all_by_eq_bsatn", guarded<delete_all_by_eq>},
  {"volatile_nonatomic_schedule_immediate", guarded<schedule_immediate>},
  {"console_log", guarded<console_log>},
  {"console_timer_start", guarded<timer_start>},
  {"console_timer_end", guarded<timer_end>},
  {"identity", guarded<database_identity>},
  {"get_jwt_payload", guarded<jwt_payload>},
  {"procedure_http_request", guarded<http_request>},
  {"procedure_start_mut_tx", guarded<start_tx>},
  {"procedure_commit_mut_tx", guarded<commit_tx>},
  {"procedure_abort_mut_tx", guarded<abort_tx>},
  {"register_hooks", register_hooks},
};

const syscall sys_2_1[] = {
  {"datastore_clear", guarded<clear>},
};

const syscall sys_1_0[] = {
  {"register_hooks", register_hooks_v1<hooks_1_0, std::size(hooks_1_0)>},
  {"table_id_from_name", guarded<table_id_from_name>},
  {"index_id_from_name", guarded<index_id_from_name>},
  {"datastore_table_row_count", guarded<table_row_count>},
  {"datastore_table_scan_bsatn", guarded<table_scan>},
  {"datastore_index_scan_range_bsatn", guarded<index_scan_range_v1>},
  {"row_iter_bsatn_advance", guarded<iter_advance_v1>},
  {"row_iter_bsatn_close", guarded<iter_close>},
  {"datastore_insert_bsatn", guarded<insert_v1>},
  {"datastore_update_bsatn", guarded<update_v1>},
  {"datastore_delete_by_index_scan_range_bsatn", guarded<delete_range_v1>},
  {"datastore_delete_all_by_eq_bsatn", guarded<delete_all_by_eq_v1>},
  {"volatile_nonatomic_schedule_immediate", guarded<schedule_immediate>},
  {"console_log", guarded<console_log>},
  {"console_timer_start", guarded<timer_start>},
  {"console_timer_end", guarded<timer_end>},
  {"identity", guarded<database_identity_v1>},
  {"get_jwt_payload", guarded<jwt_payload>},
};

const syscall sys_1_1[] = {
  {"register_hooks", register_hooks_v1<hooks_1_1, std::size(hooks_1_1)>},
};

const syscall sys_1_2[] = {
  {"register_hooks", register_hooks_v1<hooks_1_2, std::size(hooks_1_2)>},
  {"procedure_http_request", guarded<http_request>},
  {"procedure_start_mut_tx", guarded<start_tx>},
  {"procedure_commit_mut_tx", guarded<commit_tx>},
  {"procedure_abort_mut_tx", guarded<abort_tx>},
};

const syscall sys_1_3[] = {
  {"datastore_index_scan_point_bsatn", guarded<index_scan_point_v1>},
  {"datastore_delete_by_index_scan_point_bsatn", guarded<delete_point_v1>},
};

struct sys_module {
  const char* specifier;
  const syscall* begin;
  const syscall* end;
};

const sys_module sys_modules[] = {
  {"spacetime:sys@2.0", std::begin(sys_2_0), std::end(sys_2_0)},
  {"spacetime:sys@2.1", std::begin(sys_2_1), std::end(sys_2_1)},
  {"spacetime:sys@1.0", std::begin(sys_1_0), std::end(sys_1_0)},
  {"spacetime:sys@1.1", std::begin(sys_1_1), std::end(sys_1_1)},
  {"spacetime:sys@1.2", std::begin(sys_1_2), std::end(sys_1_2)},
  {"spacetime:sys@1.3", std::begin(sys_1_3), std::end(sys_1_3)},
};

const sys_module* find_sys_module(std::string_view specifier) {
  for (auto& m : sys_modules)
    if (specifier == m.specifier) return &m;
  return nullptr;
}

// @2.0 also exports the symbol the 2.x library keys its hooks by.
bool exports_hooks_symbol(const sys_module& m) { return std::string_view(m.specifier) == "spacetime:sys@2.0"; }

v8::MaybeLocal<v8::Value> set_exports(v8::Local<v8::Context> ctx, v8::Local<v8::Module> module) {
  v8::Isolate* isolate = ctx->GetIsolate();
  auto* s = static_cast<state_t*>(isolate->GetData(0));
  auto data = v8::External::New(isolate, s);
  const sys_module* which = nullptr;  // the synthetic module being evaluated, by identity
  for (auto& [specifier, made] : s->sys_modules)
    if (made.Get(isolate) == module) which = find_sys_module(specifier);
  if (!which) return {};
  for (auto* c = which->begin; c != which->end; ++c) {
    v8::Local<v8::Function> fn;
    if (!v8::Function::New(ctx, c->fn, data).ToLocal(&fn) ||
        module->SetSyntheticModuleExport(isolate, str(isolate, c->name), fn).IsNothing())
      return {};
  }
  if (exports_hooks_symbol(*which) &&
      module->SetSyntheticModuleExport(isolate, str(isolate, "moduleHooks"), s->hooks_symbol.Get(isolate)).IsNothing())
    return {};
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver) || resolver->Resolve(ctx, v8::Undefined(isolate)).IsNothing())
    return {};
  return resolver->GetPromise();
}

} // namespace

bool is_sys_module(const std::string& specifier) { return find_sys_module(specifier) != nullptr; }

v8::MaybeLocal<v8::Module> make_sys_module(state_t& s, const std::string& specifier) {
  v8::Isolate* isolate = s.isolate;
  const sys_module* which = find_sys_module(specifier);
  std::vector<v8::Local<v8::String>> names;
  for (auto* c = which->begin; c != which->end; ++c) names.push_back(str(isolate, c->name));
  if (exports_hooks_symbol(*which)) {
    names.push_back(str(isolate, "moduleHooks"));
    if (s.hooks_symbol.IsEmpty()) s.hooks_symbol.Reset(isolate, v8::Symbol::New(isolate, str(isolate, "moduleHooks")));
  }
  return v8::Module::CreateSyntheticModule(isolate, str(isolate, specifier), names, set_exports);
}

} // namespace orrery
