#include "modules/module_host.hpp"

#include "modules/detail/instance_state.hpp"
#include "modules/watchdog.hpp"

#include <libplatform/libplatform.h>

#include <cxxabi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

// libnode is built without RTTI, so it has no type_info for
// v8::ArrayBuffer::Allocator; array_buffer_budget derives from it in a file
// built with RTTI, whose type_info names its base. This weak definition stands
// in for the missing one (a V8 that has its own wins).
extern const __cxxabiv1::__class_type_info orrery_v8_allocator_type_info __asm__(
  "_ZTIN2v811ArrayBuffer9AllocatorE") __attribute__((weak));
const __cxxabiv1::__class_type_info orrery_v8_allocator_type_info{"N2v811ArrayBuffer9AllocatorE"};

namespace orrery {
namespace {

constexpr std::size_t mb = std::size_t(1) << 20;
constexpr std::size_t max_host_text = mb;  // host messages embed only clipped module text

std::unique_ptr<v8::Platform> v8_platform;  // for the process, set up once

void ensure_v8() {
  static std::once_flag once;
  std::call_once(once, [] {
    // WebAssembly memories are allocated outside the ArrayBuffer budget.
    v8::V8::SetFlagsFromString("--no-expose-wasm");
    // Extra V8 flags for diagnosis, e.g. ORRERY_V8_FLAGS=--perf-basic-prof.
    if (const char* flags = std::getenv("ORRERY_V8_FLAGS")) v8::V8::SetFlagsFromString(flags);
    v8_platform = v8::platform::NewDefaultPlatform();
    v8::V8::InitializePlatform(v8_platform.get());
    v8::V8::Initialize();
  });
}

module_instance::impl* state_of(v8::Isolate* isolate) {
  return isolate ? static_cast<module_instance::impl*>(isolate->GetData(0)) : nullptr;
}

// ---- what V8 reports ----

// V8 asks once per occasion and stops the process if the answer leaves no
// room: the heap may already be past its limit (a large object is admitted
// without asking), and the terminated code still allocates until it reaches
// an interrupt check. So each time: terminate, and grant room above what the
// heap holds now, up to a ceiling of three times the limit. At the ceiling the
// limit stays, and V8 stops the process (on_out_of_memory says why).
std::size_t near_heap_limit(void* data, std::size_t current, std::size_t initial) {
  auto& s = *static_cast<module_instance::impl*>(data);
  s.out_of_heap = true;
  s.broken = true;
  s.isolate->TerminateExecution();
  v8::HeapStatistics stats;
  s.isolate->GetHeapStatistics(&stats);
  const std::size_t limit = s.limits.heap_limit_bytes;
  const std::size_t step = std::max(limit / 2, 16 * mb);
  const std::size_t ceiling = initial + 2 * limit;
  const std::size_t wanted = std::min(std::max(current, stats.total_heap_size()) + step, ceiling);
  return std::max(wanted, current);
}

// V8 stops the process after this returns; say which database did it.
void on_out_of_memory(const char* location, bool is_heap) {
  auto* s = state_of(v8::Isolate::TryGetCurrent());
  std::fprintf(stderr,
               "orrery: a module ran V8 out of memory (%s%s) before it could be stopped; V8 cannot recover "
               "from this and stops the host\n",
               location ? location : "unknown", is_heap ? ", JavaScript heap" : "");
  if (s && s->env)
    s->env->log(log_level::panic, std::string("the module ran V8 out of memory (") + (location ? location : "") +
                                    "); the host process stops");
}

// API misuse V8 detects (it goes on after this returns): the call fails and
// the instance is replaced.
void on_fatal_error(const char* location, const char* message) {
  auto* s = state_of(v8::Isolate::TryGetCurrent());
  std::fprintf(stderr, "orrery: V8 reported a fatal error in a module: %s: %s\n", location ? location : "",
               message ? message : "");
  if (!s) return;
  s->broken = true;
  if (s->fatal_error.empty())
    s->fatal_error = std::string(location ? location : "") + ": " + (message ? message : "");
}

// V8 admits a large object past the heap limit without asking, so a load or
// call may end above the limit without a near-limit callback: that is running
// out of memory all the same.
void check_heap(module_instance::impl& s) {
  if (s.out_of_heap) return;
  v8::HeapStatistics stats;
  s.isolate->GetHeapStatistics(&stats);
  if (stats.used_heap_size() <= s.limits.heap_limit_bytes) return;
  s.isolate->LowMemoryNotification();  // perhaps it is only garbage
  s.isolate->GetHeapStatistics(&stats);
  if (stats.used_heap_size() > s.limits.heap_limit_bytes) {
    s.out_of_heap = true;
    s.broken = true;
  }
}

// ---- text ----

std::string to_std(v8::Isolate* isolate, v8::Local<v8::Value> v, std::size_t max_bytes) {
  std::string text;
  bool cut = false;
  if (!text_of(isolate, v, max_bytes, text, &cut)) return "(unprintable value)";
  if (cut) text += " …(cut)";
  return text;
}

// "file:line: message" plus the stack when there is one, at most `max_bytes`.
std::string describe_exception(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::TryCatch& caught,
                               std::size_t max_bytes) {
  if (caught.HasTerminated() || isolate->IsExecutionTerminating()) return "execution was terminated";
  v8::Local<v8::Value> exception = caught.Exception();
  if (exception.IsEmpty()) return "unknown error";
  std::string text = to_std(isolate, exception, max_bytes);
  v8::Local<v8::Value> stack;
  if (caught.StackTrace(ctx).ToLocal(&stack) && stack->IsString()) {
    std::string trace = to_std(isolate, stack, max_bytes);
    if (!trace.empty()) text = trace;
  } else if (auto message = caught.Message(); !message.IsEmpty()) {
    int line = message->GetLineNumber(ctx).FromMaybe(0);
    text += " (line " + std::to_string(line) + ")";
  }
  return text;
}

void range_error(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::RangeError(host_string(isolate, message)));
}

// ---- builtins behind TextEncoder / TextDecoder ----

void utf8_encode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  auto* state = state_of(isolate);
  v8::Local<v8::String> s;
  if (!args[0]->ToString(isolate->GetCurrentContext()).ToLocal(&s)) return;
  const int length = s->Utf8Length(isolate);
  v8::Local<v8::ArrayBuffer> buffer;
  if (length < 0 || !new_array_buffer(*state, std::size_t(length)).ToLocal(&buffer)) return;
  s->WriteUtf8(isolate, static_cast<char*>(buffer->Data()), length, nullptr,
               v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, std::size_t(length)));
}

void utf8_decode_unguarded(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  std::string copied;  // a view without a buffer of its own (small typed arrays live in the heap)
  const char* data = nullptr;
  std::size_t size = 0;
  if (args[0]->IsArrayBufferView()) {
    auto view = args[0].As<v8::ArrayBufferView>();
    size = view->ByteLength();
    if (view->HasBuffer()) {
      data = static_cast<const char*>(view->Buffer()->Data()) + view->ByteOffset();
    } else {
      copied.resize(size);
      view->CopyContents(copied.data(), size);
      data = copied.data();
    }
  } else if (args[0]->IsArrayBuffer()) {
    auto buffer = args[0].As<v8::ArrayBuffer>();
    data = static_cast<const char*>(buffer->Data());
    size = buffer->ByteLength();
  } else {
    isolate->ThrowException(
      v8::Exception::TypeError(host_string(isolate, "TextDecoder.decode needs an ArrayBuffer or a view")));
    return;
  }
  v8::Local<v8::String> text;
  if (size > std::size_t(v8::String::kMaxLength) ||
      !v8::String::NewFromUtf8(isolate, data ? data : "", v8::NewStringType::kNormal, int(size)).ToLocal(&text))
    return range_error(isolate, "TextDecoder.decode: " + std::to_string(size) +
                                  " bytes are more than the longest string V8 can hold");
  args.GetReturnValue().Set(text);
}

// No C++ exception may unwind through V8's frames.
void utf8_decode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  try {
    utf8_decode_unguarded(args);
  } catch (const std::bad_alloc&) {
    range_error(args.GetIsolate(), "TextDecoder.decode: the host ran out of memory");
  }
}

v8::MaybeLocal<v8::Module> resolve(v8::Local<v8::Context> ctx, v8::Local<v8::String> specifier,
                                   v8::Local<v8::FixedArray>, v8::Local<v8::Module>) {
  v8::Isolate* isolate = ctx->GetIsolate();
  auto* state = state_of(isolate);
  std::string name = to_std(isolate, specifier, 256);
  if (!is_sys_module(name)) {
    isolate->ThrowException(v8::Exception::TypeError(host_string(isolate, "Could not find module " + name)));
    return {};
  }
  const module_abi abi = name.compare(0, 16, "spacetime:sys@1.") == 0 ? module_abi::v1 : module_abi::v2;
  if (!state->sys_modules.empty() && abi != state->abi) {
    isolate->ThrowException(v8::Exception::TypeError(
      host_string(isolate, "the module imports both spacetime:sys@1.x and @2.x; build it with one spacetimedb version")));
    return {};
  }
  state->abi = abi;
  auto it = state->sys_modules.find(name);
  if (it != state->sys_modules.end()) return it->second.Get(isolate);
  v8::Local<v8::Module> m;
  if (!make_sys_module(*state, name).ToLocal(&m)) return {};
  state->sys_modules[name].Reset(isolate, m);
  return m;
}

failure load_error(std::string message) { return fail(errc::invalid_argument, std::move(message)); }

/// A module's source as V8 reads it in place: the instances of one module
/// share one copy of it (the image's) instead of each holding one on its
/// heap. V8 deletes the resource once the isolate lets go of the source.
class ascii_source final : public v8::String::ExternalOneByteStringResource {
public:
  explicit ascii_source(std::shared_ptr<const module_image> image) : image_(std::move(image)) {}
  const char* data() const override { return image_->bundle.data(); }
  std::size_t length() const override { return image_->bundle.size(); }

private:
  std::shared_ptr<const module_image> image_;
};

class utf16_source final : public v8::String::ExternalStringResource {
public:
  explicit utf16_source(std::shared_ptr<const module_image> image) : image_(std::move(image)) {}
  const std::uint16_t* data() const override { return reinterpret_cast<const std::uint16_t*>(image_->utf16.data()); }
  std::size_t length() const override { return image_->utf16.size(); }

private:
  std::shared_ptr<const module_image> image_;
};

// The module's load sequence (module-abi.md §1) in the entered context.
// Returns "" or what went wrong; `phase` says what was running.
// With `code_cache` set, the bundle compiles from it (a stale cache is
// rejected by V8 and the bundle compiles from source); `__describe_module__`
// runs only when the instance has no definition yet.
std::string evaluate(module_instance::impl& s, const std::string* code_cache, v8::Local<v8::Context> ctx,
                     v8::TryCatch& caught, std::string& phase) {
  v8::Isolate* isolate = s.isolate;
  const std::string& bundle = s.image->bundle;
  const std::size_t max_text = s.limits.max_log_line_bytes;

  phase = "installing the host's builtins";
  v8::Local<v8::Script> polyfills;
  if (!v8::Script::Compile(ctx, host_string(isolate, polyfill_source)).ToLocal(&polyfills) ||
      polyfills->Run(ctx).IsEmpty())
    return "the host's builtins failed to load: " + describe_exception(isolate, ctx, caught, max_text);

  // The bundle, as an ES module.
  phase = "compiling it";
  v8::Local<v8::String> code;
  if (bundle.size() > std::size_t(v8::String::kMaxLength) ||
      !(s.image->utf16.empty() ? v8::String::NewExternalOneByte(isolate, new ascii_source(s.image))
                               : v8::String::NewExternalTwoByte(isolate, new utf16_source(s.image)))
         .ToLocal(&code))
    return "the module bundle is too large (" + std::to_string(bundle.size() / mb) + " MB)";
  v8::ScriptOrigin origin(isolate, host_string(isolate, "module.js"), 0, 0, false, -1, v8::Local<v8::Value>(), false,
                          false, true);
  auto cached = code_cache && !code_cache->empty()
                  ? new v8::ScriptCompiler::CachedData(reinterpret_cast<const std::uint8_t*>(code_cache->data()),
                                                       int(code_cache->size()))
                  : nullptr;
  v8::ScriptCompiler::Source source(code, origin, cached);  // owns `cached`
  v8::Local<v8::Module> module;
  if (!v8::ScriptCompiler::CompileModule(isolate, &source, cached ? v8::ScriptCompiler::kConsumeCodeCache
                                                                  : v8::ScriptCompiler::kNoCompileOptions)
         .ToLocal(&module))
    return "the module does not compile: " + describe_exception(isolate, ctx, caught, max_text);
  s.module.Reset(isolate, module);
  s.cache_rejected = cached && source.GetCachedData()->rejected;  // another V8 or other flags made it
  phase = "linking it";
  if (!module->InstantiateModule(ctx, resolve).FromMaybe(false))
    return "the module cannot be linked: " + describe_exception(isolate, ctx, caught, max_text);
  phase = "evaluating its top level";
  v8::Local<v8::Value> evaluated;
  if (!module->Evaluate(ctx).ToLocal(&evaluated))
    return "the module threw while loading: " + describe_exception(isolate, ctx, caught, max_text);
  isolate->PerformMicrotaskCheckpoint();
  if (isolate->IsExecutionTerminating()) return "execution was terminated";
  if (evaluated->IsPromise()) {
    auto promise = evaluated.As<v8::Promise>();
    if (promise->State() == v8::Promise::kRejected) {
      v8::Local<v8::Value> reason = promise->Result();
      std::string text = to_std(isolate, reason, max_text);
      if (reason->IsObject()) {
        v8::Local<v8::Value> stack;
        if (reason.As<v8::Object>()->Get(ctx, host_string(isolate, "stack")).ToLocal(&stack) && stack->IsString())
          text = to_std(isolate, stack, max_text);
      }
      return "the module threw while loading: " + text;
    }
    if (promise->State() == v8::Promise::kPending)
      return "the module's top level is still waiting (top-level await is not supported)";
  }

  phase = "running its module hooks";
  v8::Local<v8::Object> hooks_object;
  if (s.abi == module_abi::v1) {  // register_hooks received them while the top level ran
    if (s.hooks.IsEmpty()) return "the module did not register its hooks (register_hooks from spacetime:sys@1.0)";
    hooks_object = s.hooks.Get(isolate);
  } else {  // default[moduleHooks](namespace) gives the hooks
    auto ns = module->GetModuleNamespace().As<v8::Object>();
    v8::Local<v8::Value> default_export;
    if (!ns->Get(ctx, host_string(isolate, "default")).ToLocal(&default_export) || !default_export->IsObject())
      return "the module has no default export; export the schema: `export default spacetimedb`";
    v8::Local<v8::Value> hook_fn;
    if (s.hooks_symbol.IsEmpty() ||
        !default_export.As<v8::Object>()->Get(ctx, s.hooks_symbol.Get(isolate)).ToLocal(&hook_fn) ||
        !hook_fn->IsFunction())
      return "the module's default export is not a spacetimedb schema";
    v8::Local<v8::Value> ns_value = ns;
    v8::Local<v8::Value> hooks;
    if (!hook_fn.As<v8::Function>()->Call(ctx, default_export, 1, &ns_value).ToLocal(&hooks) || !hooks->IsObject())
      return "the module's hooks failed: " + describe_exception(isolate, ctx, caught, max_text);
    hooks_object = hooks.As<v8::Object>();
    s.hooks.Reset(isolate, hooks_object);
  }

  auto method = [&](const char* name) -> v8::Local<v8::Function> {
    v8::Local<v8::Value> fn;
    if (hooks_object->Get(ctx, host_string(isolate, name)).ToLocal(&fn) && fn->IsFunction())
      return fn.As<v8::Function>();
    return {};
  };
  v8::Local<v8::Function> describe = method("__describe_module__");
  v8::Local<v8::Function> call = method("__call_reducer__");
  v8::Local<v8::Function> errors = method("__get_error_constructor__");  // v2 only: v1 errors are plain objects
  if (describe.IsEmpty() || call.IsEmpty() || (errors.IsEmpty() && s.abi == module_abi::v2))
    return "the module's hooks lack __describe_module__, __call_reducer__ or __get_error_constructor__";
  s.call_reducer.Reset(isolate, call);
  if (auto procedures = method("__call_procedure__"); !procedures.IsEmpty()) s.call_procedure.Reset(isolate, procedures);
  if (auto handlers = method("__call_http_handler__"); !handlers.IsEmpty()) s.call_http_handler.Reset(isolate, handlers);
  if (auto views = method("__call_view__"); !views.IsEmpty()) s.call_view.Reset(isolate, views);
  if (auto views = method("__call_view_anon__"); !views.IsEmpty()) s.call_view_anon.Reset(isolate, views);
  if (!errors.IsEmpty()) s.error_constructor_of.Reset(isolate, errors);
  v8::Local<v8::Value> sender_error;
  if (hooks_object->Get(ctx, host_string(isolate, "__sender_error_class__")).ToLocal(&sender_error))
    s.sender_error_class.Reset(isolate, sender_error);

  if (!s.definition.empty()) return {};
  phase = "running __describe_module__";
  v8::Local<v8::Value> described;
  if (!describe->Call(ctx, hook_receiver(s), 0, nullptr).ToLocal(&described))
    return "describing the module failed: " + describe_exception(isolate, ctx, caught, max_text);
  if (!described->IsArrayBufferView()) return "__describe_module__ did not return bytes";
  auto view = described.As<v8::ArrayBufferView>();
  s.definition.resize(view->ByteLength());
  view->CopyContents(s.definition.data(), s.definition.size());
  return {};
}

std::string heap_limit_text(const module_limits& limits) {
  return "heap limit " + std::to_string(limits.heap_limit_bytes / mb) + " MB";
}

} // namespace

// ---- shared with syscalls.cpp ----

v8::Local<v8::Value> hook_receiver(module_instance::impl& s) {
  if (s.abi == module_abi::v1) return v8::Undefined(s.isolate);
  return s.hooks.Get(s.isolate);
}

array_buffer_budget::array_buffer_budget(std::size_t limit_bytes) : limit_(limit_bytes) {}

bool array_buffer_budget::reserve(std::size_t length) {
  std::size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (length > limit_ - std::min(used, limit_)) return false;
  } while (!used_.compare_exchange_weak(used, used + length, std::memory_order_relaxed));
  return true;
}

bool array_buffer_budget::fits(std::size_t length) const {
  return length <= limit_ - std::min(used_.load(std::memory_order_relaxed), limit_);
}

void* array_buffer_budget::Allocate(std::size_t length) {
  if (!reserve(length)) return nullptr;
  void* data = std::calloc(std::max<std::size_t>(length, 1), 1);
  if (!data) used_.fetch_sub(length, std::memory_order_relaxed);
  return data;
}

void* array_buffer_budget::AllocateUninitialized(std::size_t length) {
  if (!reserve(length)) return nullptr;
  void* data = std::malloc(std::max<std::size_t>(length, 1));
  if (!data) used_.fetch_sub(length, std::memory_order_relaxed);
  return data;
}

void array_buffer_budget::Free(void* data, std::size_t length) {
  std::free(data);
  used_.fetch_sub(length, std::memory_order_relaxed);
}

v8::Local<v8::String> host_string(v8::Isolate* isolate, std::string_view text) {
  v8::Local<v8::String> s;
  if (text.size() <= max_host_text &&
      v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, int(text.size())).ToLocal(&s))
    return s;
  return v8::String::Empty(isolate);
}

std::string clip(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // whole characters only
  return std::string(text.substr(0, end)) + "… (" + std::to_string(text.size()) + " bytes)";
}

bool text_of(v8::Isolate* isolate, v8::Local<v8::Value> value, std::size_t max_bytes, std::string& out, bool* cut) {
  v8::Local<v8::String> s;
  if (value->IsString()) s = value.As<v8::String>();
  else if (!value->ToString(isolate->GetCurrentContext()).ToLocal(&s)) return false;
  const std::size_t units = std::size_t(s->Length());
  const std::size_t room = std::min({max_bytes, units * 3, std::size_t(INT_MAX)});
  out.resize(room);
  int chars = 0;
  int written = s->WriteUtf8(isolate, out.data(), int(room), &chars,
                             v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  out.resize(std::size_t(std::max(written, 0)));
  if (cut) *cut = std::size_t(chars) < units;
  return true;
}

v8::MaybeLocal<v8::BigInt> big_unsigned(v8::Local<v8::Context> ctx, const std::uint64_t* words, int count) {
  return v8::BigInt::NewFromWords(ctx, 0, count, words);
}

v8::MaybeLocal<v8::ArrayBuffer> new_array_buffer(module_instance::impl& state, std::size_t length) {
  if (!state.allocator->fits(length)) {
    state.isolate->LowMemoryNotification();  // buffers that are garbage give their bytes back once collected
    if (!state.allocator->fits(length)) {
      range_error(state.isolate, "Array buffer allocation failed: " + std::to_string(length) +
                                   " bytes would pass the module's ArrayBuffer limit of " +
                                   std::to_string(state.allocator->limit() / mb) + " MB");
      return {};
    }
  }
  return v8::ArrayBuffer::New(state.isolate, length);
}

void module_instance::impl::begin_call(transaction* transaction) {
  tx = transaction;
  in_call = transaction != nullptr;
  scheduled_this_call = 0;
  log_lines_this_call = 0;
}

void module_instance::impl::end_call() {
  tx = nullptr;
  in_call = false;
  iterators.clear();
  timers.clear();
}

module_instance::impl::~impl() {
  if (!isolate) return;
  {
    v8::Locker locked(isolate);
    iterators.clear();
    error_constructors.clear();
    sys_modules.clear();
    sender_error_class.Reset();
    error_constructor_of.Reset();
    call_reducer.Reset();
    call_procedure.Reset();
    call_http_handler.Reset();
    call_view.Reset();
    call_view_anon.Reset();
    hooks.Reset();
    hooks_symbol.Reset();
    module.Reset();
    context.Reset();
  }
  // The platform keeps a task queue per isolate until told it is gone.
  v8::platform::NotifyIsolateShutdown(v8_platform.get(), isolate);
  isolate->Dispose();
}

module_instance::module_instance(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
module_instance::~module_instance() = default;

const std::string& module_instance::definition() const { return impl_->definition; }
std::shared_ptr<const module_image> module_instance::image() const { return impl_->image; }
bool module_instance::cache_rejected() const { return impl_->cache_rejected; }

std::size_t module_instance::memory_bytes() const {
  v8::Locker locked(impl_->isolate);
  v8::HeapStatistics heap;
  impl_->isolate->GetHeapStatistics(&heap);
  return heap.total_physical_size() + heap.malloced_memory() + impl_->allocator->used();
}
bool module_instance::broken() const { return impl_->broken; }

void module_instance::bind(datastore& ds, name_bindings names) {
  impl_->ds = &ds;
  impl_->names = std::move(names);
}

namespace {

/// A fresh isolate within `limits`, ready for module code.
std::unique_ptr<module_instance::impl> new_instance_state(module_environment& env, const module_limits& limits) {
  auto state = std::make_unique<module_instance::impl>();
  module_instance::impl& s = *state;
  s.env = &env;
  s.limits = limits;
  s.allocator = std::make_shared<array_buffer_budget>(limits.array_buffer_limit_bytes ? limits.array_buffer_limit_bytes
                                                                                     : limits.heap_limit_bytes);
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator_shared = s.allocator;
  params.constraints.ConfigureDefaultsFromHeapSize(0, limits.heap_limit_bytes);
  params.fatal_error_callback = on_fatal_error;
  params.oom_error_callback = on_out_of_memory;
  s.isolate = v8::Isolate::New(params);
  v8::Locker locked(s.isolate);
  s.isolate->SetData(0, &s);
  s.isolate->SetFatalErrorHandler(on_fatal_error);
  s.isolate->SetOOMErrorHandler(on_out_of_memory);
  s.isolate->AddNearHeapLimitCallback(near_heap_limit, &s);
  s.isolate->SetAllowAtomicsWait(false);  // a wait nobody can end would hold a worker thread
  return state;
}

/// Runs the load sequence of `s.image`'s bundle in a new context within the
/// limits; "" or what went wrong, in the words a module author reads. With
/// `code_cache_out`, also the code cache of everything compiled meanwhile.
std::string load_within_limits(module_instance::impl& s, const std::string* code_cache, std::string* code_cache_out) {
  v8::Isolate* isolate = s.isolate;
  v8::Locker locked(isolate);
  v8::Isolate::Scope entered(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::ObjectTemplate> global = v8::ObjectTemplate::New(isolate);
  global->Set(isolate, "__orrery_utf8_encode", v8::FunctionTemplate::New(isolate, utf8_encode));
  global->Set(isolate, "__orrery_utf8_decode", v8::FunctionTemplate::New(isolate, utf8_decode));
  v8::Local<v8::Context> ctx = v8::Context::New(isolate, nullptr, global);
  s.context.Reset(isolate, ctx);
  v8::Context::Scope in_context(ctx);
  v8::TryCatch caught(isolate);

  std::string phase;
  s.begin_call(nullptr);
  watch_scope watch(isolate, s.limits.reducer_budget);
  std::string error = evaluate(s, code_cache, ctx, caught, phase);
  const bool timed_out = watch.stop();
  s.end_call();
  check_heap(s);
  if (s.out_of_heap)
    error = "the module ran out of memory while " + phase + " (" + heap_limit_text(s.limits) +
            ") and was stopped; keep large data in tables, not in module memory";
  else if (timed_out && !error.empty())
    error = "the module ran longer than " + std::to_string(s.limits.reducer_budget.count()) + " ms while " + phase +
            " and was stopped; a module must not loop or wait while it loads";
  else if (!s.fatal_error.empty())
    error = "V8 reported a fatal error while " + phase + ": " + s.fatal_error;
  else if (error.empty() && s.broken)
    error = "the module was stopped while " + phase;
  if (timed_out && error.empty()) isolate->CancelTerminateExecution();  // it finished just in time
  if (error.empty() && (code_cache_out || s.cache_rejected)) {
    // Taken after the top level and describe ran, so it holds the functions
    // they compiled, not only the top level.
    std::unique_ptr<v8::ScriptCompiler::CachedData> cache(
      v8::ScriptCompiler::CreateCodeCache(s.module.Get(isolate)->GetUnboundModuleScript()));
    std::string made = cache ? std::string(reinterpret_cast<const char*>(cache->data), std::size_t(cache->length)) : "";
    if (code_cache_out) {
      *code_cache_out = std::move(made);
    } else {  // V8 refused the image's cache: the instance carries a renewed image
      auto renewed = std::make_shared<module_image>(*s.image);
      renewed->code_cache = std::move(made);
      s.image = std::move(renewed);
    }
  }
  return error;
}

} // namespace

result<std::unique_ptr<module_instance>> module_instance::start(std::shared_ptr<const module_image> image,
                                                                module_environment& env, module_limits limits) {
  ensure_v8();
  auto state = new_instance_state(env, limits);
  state->definition = image->definition;  // known: __describe_module__ does not run again
  state->image = image;
  if (auto error = load_within_limits(*state, &image->code_cache, nullptr); !error.empty())
    return load_error(std::move(error));
  return std::unique_ptr<module_instance>(new module_instance(std::move(state)));
}

result<std::unique_ptr<module_instance>> module_instance::load(const std::string& bundle, module_environment& env,
                                                               module_limits limits) {
  ensure_v8();
  auto state = new_instance_state(env, limits);
  auto image = std::make_shared<module_image>();
  image->bundle = bundle;
  with_source(*image);
  state->image = image;  // filled in below, once the load succeeded
  if (auto error = load_within_limits(*state, nullptr, &image->code_cache); !error.empty())
    return load_error(std::move(error));
  image->definition = state->definition;
  return std::unique_ptr<module_instance>(new module_instance(std::move(state)));
}

namespace {

// The outcome of a call that threw: a SenderError is the caller's fault,
// anything else an internal error. Reading the exception can run module code.
call_outcome outcome_of_throw(module_instance::impl& s, v8::Local<v8::Context> ctx, v8::TryCatch& caught,
                              const char* what) {
  v8::Isolate* isolate = s.isolate;
  const std::size_t max_text = s.limits.max_log_line_bytes;
  if (caught.HasTerminated()) return {call_status::internal_error, "execution was terminated", {}, {}};
  v8::Local<v8::Value> exception = caught.Exception();
  if (exception.IsEmpty()) return {call_status::internal_error, std::string("the ") + what + " failed without an exception", {}, {}};
  if (!s.sender_error_class.IsEmpty() && exception->IsObject()) {
    v8::Local<v8::Value> cls = s.sender_error_class.Get(isolate);
    if (cls->IsFunction() && exception->InstanceOf(ctx, cls.As<v8::Object>()).FromMaybe(false)) {
      v8::Local<v8::Value> message;
      if (!exception.As<v8::Object>()->Get(ctx, host_string(isolate, "message")).ToLocal(&message))
        message = exception;
      return {call_status::user_error, to_std(isolate, message, max_text), {}, {}};
    }
  }
  return {call_status::internal_error, describe_exception(isolate, ctx, caught, max_text), {}, {}};
}

// A v1 reducer's return value: `{tag: 'ok'}` commits, `{tag: 'err', value}`
// is the caller's error; anything else is the module's.
call_outcome v1_reducer_outcome(module_instance::impl& s, v8::Local<v8::Context> ctx, v8::TryCatch& caught,
                                v8::Local<v8::Value> returned) {
  v8::Isolate* isolate = s.isolate;
  const std::size_t max_text = s.limits.max_log_line_bytes;
  v8::Local<v8::Value> tag, value;
  if (returned->IsObject() && returned.As<v8::Object>()->Get(ctx, host_string(isolate, "tag")).ToLocal(&tag) &&
      tag->IsString()) {
    std::string name = to_std(isolate, tag, 16);
    if (name == "ok") return {call_status::ok, {}, {}, {}};
    if (name == "err" && returned.As<v8::Object>()->Get(ctx, host_string(isolate, "value")).ToLocal(&value))
      return {call_status::user_error, to_std(isolate, value, max_text), {}, {}};
  }
  if (caught.HasCaught()) return outcome_of_throw(s, ctx, caught, "reducer");
  return {call_status::internal_error, "__call_reducer__ returned neither {tag: 'ok'} nor {tag: 'err', value}", {}, {}};
}

// The hooks' first arguments for a call: the sender as a u256 and the
// connection as a u128, both BigInts.
bool caller_values(v8::Local<v8::Context> ctx, const identity& sender, const connection_id& connection,
                   v8::Local<v8::BigInt>& sender_value, v8::Local<v8::BigInt>& connection_value) {
  std::uint64_t sender_words[4], connection_words[2];
  for (int w = 0; w < 4; ++w) {
    std::uint64_t word = 0;
    for (int b = 0; b < 8; ++b) word = word << 8 | sender.bytes[std::size_t((3 - w) * 8 + b)];
    sender_words[w] = word;
  }
  for (int w = 0; w < 2; ++w) {
    std::uint64_t word = 0;
    for (int b = 0; b < 8; ++b) word = word << 8 | connection.bytes[std::size_t((1 - w) * 8 + b)];
    connection_words[w] = word;
  }
  return big_unsigned(ctx, sender_words, 4).ToLocal(&sender_value) &&
         big_unsigned(ctx, connection_words, 2).ToLocal(&connection_value);
}

// Runs a reducer or procedure hook and reads its outcome, exception
// included, inside the call's time budget. Reducers get their arguments as
// a DataView, procedures as a Uint8Array returning one.
call_outcome run_hook(module_instance::impl& s, v8::Local<v8::Context> ctx, v8::TryCatch& caught, bool procedure,
                      std::uint32_t id, const identity& sender, const connection_id& connection,
                      std::int64_t timestamp_micros, std::string_view args) {
  v8::Isolate* isolate = s.isolate;
  const std::size_t max_text = s.limits.max_log_line_bytes;
  v8::Local<v8::ArrayBuffer> buffer;
  if (!new_array_buffer(s, args.size()).ToLocal(&buffer)) {
    s.broken = true;  // a fresh instance gets its memory back
    return {call_status::internal_error, "the module holds too much ArrayBuffer memory to receive the call's " +
                                           std::to_string(args.size()) + " bytes of arguments (limit " +
                                           std::to_string(s.allocator->limit() / mb) + " MB)", {}, {}};
  }
  if (!args.empty()) std::memcpy(buffer->Data(), args.data(), args.size());
  v8::Local<v8::BigInt> sender_value, connection_value;
  if (!caller_values(ctx, sender, connection, sender_value, connection_value))
    return {call_status::internal_error, describe_exception(isolate, ctx, caught, max_text), {}, {}};
  v8::Local<v8::Value> argv[5] = {
    v8::Integer::NewFromUnsigned(isolate, id),
    sender_value,
    connection_value,
    v8::BigInt::New(isolate, timestamp_micros),
    procedure || s.abi == module_abi::v1 ? v8::Local<v8::Value>(v8::Uint8Array::New(buffer, 0, args.size()))
                                         : v8::Local<v8::Value>(v8::DataView::New(buffer, 0, args.size())),
  };
  v8::Local<v8::Function> hook = (procedure ? s.call_procedure : s.call_reducer).Get(isolate);
  v8::Local<v8::Value> returned;
  if (!hook->Call(ctx, hook_receiver(s), 5, argv).ToLocal(&returned))
    return outcome_of_throw(s, ctx, caught, procedure ? "procedure" : "reducer");
  if (!procedure && s.abi == module_abi::v1) return v1_reducer_outcome(s, ctx, caught, returned);
  if (!procedure) return {call_status::ok, {}, {}, {}};
  if (!returned->IsArrayBufferView())
    return {call_status::internal_error, "__call_procedure__ did not return a Uint8Array", {}, {}};
  auto view = returned.As<v8::ArrayBufferView>();
  std::string value(view->ByteLength(), '\0');
  view->CopyContents(value.data(), value.size());
  return {call_status::ok, {}, std::move(value), {}};
}

// Runs an HTTP handler: request and body in, [HttpResponse, body] out.
call_outcome run_http_hook(module_instance::impl& s, v8::Local<v8::Context> ctx, v8::TryCatch& caught, std::uint32_t id,
                           std::int64_t timestamp_micros, std::string_view request, std::string_view body) {
  v8::Isolate* isolate = s.isolate;
  v8::Local<v8::ArrayBuffer> buffers[2];
  std::string_view parts[2] = {request, body};
  for (int i = 0; i < 2; ++i) {
    if (!new_array_buffer(s, parts[i].size()).ToLocal(&buffers[i]))
      return {call_status::internal_error, "the module holds too much ArrayBuffer memory to receive the request", {}, {}};
    if (!parts[i].empty()) std::memcpy(buffers[i]->Data(), parts[i].data(), parts[i].size());
  }
  v8::Local<v8::Value> argv[4] = {
    v8::Integer::NewFromUnsigned(isolate, id),
    v8::BigInt::New(isolate, timestamp_micros),
    v8::Uint8Array::New(buffers[0], 0, request.size()),
    v8::Uint8Array::New(buffers[1], 0, body.size()),
  };
  v8::Local<v8::Value> returned;
  if (!s.call_http_handler.Get(isolate)->Call(ctx, hook_receiver(s), 4, argv).ToLocal(&returned))
    return outcome_of_throw(s, ctx, caught, "HTTP handler");
  call_outcome out;
  v8::Local<v8::Value> items[2];
  bool pair = returned->IsArray() && returned.As<v8::Array>()->Length() == 2 &&
              returned.As<v8::Array>()->Get(ctx, 0).ToLocal(&items[0]) && items[0]->IsArrayBufferView() &&
              returned.As<v8::Array>()->Get(ctx, 1).ToLocal(&items[1]) && items[1]->IsArrayBufferView();
  if (!pair) return {call_status::internal_error, "__call_http_handler__ did not return [Uint8Array, Uint8Array]", {}, {}};
  for (int i = 0; i < 2; ++i) {
    auto view = items[i].As<v8::ArrayBufferView>();
    std::string& into = i == 0 ? out.value : out.body;
    into.resize(view->ByteLength());
    view->CopyContents(into.data(), into.size());
  }
  return out;
}

// Runs a view hook: (id, [sender,] args) in, `{data}` out.
call_outcome run_view_hook(module_instance::impl& s, v8::Local<v8::Context> ctx, v8::TryCatch& caught, std::uint32_t id,
                           bool anonymous, const identity& sender) {
  v8::Isolate* isolate = s.isolate;
  const std::size_t max_text = s.limits.max_log_line_bytes;
  v8::Local<v8::ArrayBuffer> empty;
  if (!new_array_buffer(s, 0).ToLocal(&empty))
    return {call_status::internal_error, describe_exception(isolate, ctx, caught, max_text), {}, {}};
  v8::Local<v8::BigInt> sender_value, connection_value;
  if (!caller_values(ctx, sender, connection_id{}, sender_value, connection_value))
    return {call_status::internal_error, describe_exception(isolate, ctx, caught, max_text), {}, {}};
  v8::Local<v8::Value> args = v8::Uint8Array::New(empty, 0, 0);  // views take no parameters
  v8::Local<v8::Value> argv[3] = {v8::Integer::NewFromUnsigned(isolate, id), sender_value, args};
  v8::Local<v8::Value> anon_argv[2] = {argv[0], args};
  v8::Local<v8::Value> returned;
  bool called = anonymous ? s.call_view_anon.Get(isolate)->Call(ctx, hook_receiver(s), 2, anon_argv).ToLocal(&returned)
                          : s.call_view.Get(isolate)->Call(ctx, hook_receiver(s), 3, argv).ToLocal(&returned);
  if (!called) return outcome_of_throw(s, ctx, caught, "view");
  v8::Local<v8::Value> data = returned;  // earlier 1.x libraries return the bytes themselves
  if (!data->IsArrayBufferView() &&
      (!returned->IsObject() || !returned.As<v8::Object>()->Get(ctx, host_string(isolate, "data")).ToLocal(&data) ||
       !data->IsArrayBufferView()))
    return {call_status::internal_error, "the view hook did not return { data: Uint8Array }", {}, {}};
  auto view = data.As<v8::ArrayBufferView>();
  call_outcome out;
  out.value.resize(view->ByteLength());
  view->CopyContents(out.value.data(), out.value.size());
  return out;
}

} // namespace

call_outcome module_instance::call_reducer(std::uint32_t id, const identity& sender, const connection_id& connection,
                                           std::int64_t timestamp_micros, std::string_view args, transaction& tx) {
  return call(hook::reducer, id, sender, connection, timestamp_micros, args, {}, &tx);
}

call_outcome module_instance::call_procedure(std::uint32_t id, const identity& sender, const connection_id& connection,
                                             std::int64_t timestamp_micros, std::string_view args) {
  if (impl_->call_procedure.IsEmpty())
    return {call_status::internal_error, "the module's hooks lack __call_procedure__", {}, {}};
  return call(hook::procedure, id, sender, connection, timestamp_micros, args, {}, nullptr);
}

call_outcome module_instance::call_http_handler(std::uint32_t id, std::int64_t timestamp_micros,
                                                std::string_view request, std::string_view body) {
  if (impl_->call_http_handler.IsEmpty())
    return {call_status::internal_error, "the module's hooks lack __call_http_handler__", {}, {}};
  return call(hook::http_handler, id, identity{}, connection_id{}, timestamp_micros, request, body, nullptr);
}

call_outcome module_instance::call_view(std::uint32_t hook_id, bool anonymous, const identity& sender, transaction& tx,
                                        std::set<table_id>& reads) {
  if ((anonymous ? impl_->call_view_anon : impl_->call_view).IsEmpty())
    return {call_status::internal_error, "the module's hooks lack __call_view__", {}, {}};
  impl_->reads = &reads;
  call_outcome outcome = call(anonymous ? hook::anonymous_view : hook::view, hook_id, sender, connection_id{}, 0, {}, {}, &tx);
  impl_->reads = nullptr;
  return outcome;
}

call_outcome module_instance::call(hook kind, std::uint32_t id, const identity& sender, const connection_id& connection,
                                   std::int64_t timestamp_micros, std::string_view args, std::string_view body,
                                   transaction* tx) {
  impl& s = *impl_;
  const bool procedure = kind == hook::procedure || kind == hook::http_handler;  // they open their own transactions
  const char* what = kind == hook::reducer     ? "reducer"
                     : kind == hook::procedure ? "procedure"
                     : kind == hook::http_handler ? "HTTP handler"
                                                  : "view";
  if (s.broken) return {call_status::internal_error, "the module instance is broken and must be reloaded", {}, {}};
  v8::Isolate* isolate = s.isolate;
  v8::Locker locked(isolate);
  v8::Isolate::Scope entered(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> ctx = s.context.Get(isolate);
  v8::Context::Scope in_context(ctx);
  v8::TryCatch caught(isolate);

  s.begin_call(tx);
  s.in_call = true;
  s.in_procedure = procedure;
  watch_scope watch(isolate, s.limits.reducer_budget);
  call_outcome outcome =
    kind == hook::http_handler ? run_http_hook(s, ctx, caught, id, timestamp_micros, args, body)
    : kind == hook::view || kind == hook::anonymous_view
      ? run_view_hook(s, ctx, caught, id, kind == hook::anonymous_view, sender)
      : run_hook(s, ctx, caught, kind == hook::procedure, id, sender, connection, timestamp_micros, args);
  const bool timed_out = watch.stop();
  if (procedure && s.tx) {  // a transaction the procedure left open is rolled back
    s.iterators.clear();
    s.tx = nullptr;
    s.env->end_procedure_tx(false);
    if (outcome.status == call_status::ok)
      s.env->log(log_level::warn, std::string("the ") + what + " returned with its transaction open; it was rolled back");
  }
  s.in_procedure = false;
  s.end_call();
  check_heap(s);

  if (s.out_of_heap) {
    s.broken = true;
    return {call_status::internal_error,
            std::string("the ") + what + " ran out of memory and was stopped (" + heap_limit_text(s.limits) + ")", {}, {}};
  }
  if (!s.fatal_error.empty()) {
    s.broken = true;
    return {call_status::internal_error, std::string("V8 reported a fatal error in the ") + what + ": " + s.fatal_error, {}, {}};
  }
  if (timed_out) {
    if (outcome.status == call_status::ok && !caught.HasTerminated()) {
      isolate->CancelTerminateExecution();  // it finished just in time
      return outcome;
    }
    s.broken = true;
    return {call_status::internal_error, std::string("the ") + what + " ran longer than " +
                                           std::to_string(s.limits.reducer_budget.count()) + " ms and was stopped", {}, {}};
  }
  if (caught.HasTerminated() || isolate->IsExecutionTerminating()) {
    s.broken = true;
    return {call_status::internal_error, std::string("the ") + what + " was stopped", {}, {}};
  }
  return outcome;
}

} // namespace orrery
