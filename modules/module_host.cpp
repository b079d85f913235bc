#include "modules/module_host.hpp"

#include "modules/detail/instance_state.hpp"
#include "modules/watchdog.hpp"

#include <libplatform/libplatform.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace orrery {
namespace {

void ensure_v8() {
  static std::once_flag once;
  static std::unique_ptr<v8::Platform> platform;
  std::call_once(once, [] {
    // Extra V8 flags for diagnosis, e.g. ORRERY_V8_FLAGS=--perf-basic-prof.
    if (const char* flags = std::getenv("ORRERY_V8_FLAGS")) v8::V8::SetFlagsFromString(flags);
    platform = v8::platform::NewDefaultPlatform();
    v8::V8::InitializePlatform(platform.get());
    v8::V8::Initialize();
  });
}

v8::Local<v8::String> str(v8::Isolate* isolate, std::string_view s) {
  return v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, int(s.size())).ToLocalChecked();
}

std::string to_std(v8::Isolate* isolate, v8::Local<v8::Value> v) {
  v8::String::Utf8Value text(isolate, v);
  return *text ? std::string(*text, std::size_t(text.length())) : std::string("(unprintable value)");
}

// "file:line: message" plus the stack when there is one.
std::string describe_exception(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::TryCatch& caught) {
  if (caught.HasTerminated()) return "execution was terminated";
  v8::Local<v8::Value> exception = caught.Exception();
  std::string text = to_std(isolate, exception);
  v8::Local<v8::Value> stack;
  if (caught.StackTrace(ctx).ToLocal(&stack) && stack->IsString()) {
    std::string trace = to_std(isolate, stack);
    if (!trace.empty()) text = trace;
  } else if (auto message = caught.Message(); !message.IsEmpty()) {
    int line = message->GetLineNumber(ctx).FromMaybe(0);
    text += " (line " + std::to_string(line) + ")";
  }
  return text;
}

void utf8_encode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::String> s = args[0]->ToString(isolate->GetCurrentContext()).ToLocalChecked();
  int length = s->Utf8Length(isolate);
  auto buffer = v8::ArrayBuffer::New(isolate, std::size_t(length));
  s->WriteUtf8(isolate, static_cast<char*>(buffer->Data()), length, nullptr,
               v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, std::size_t(length)));
}

void utf8_decode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  const char* data = nullptr;
  std::size_t size = 0;
  if (args[0]->IsArrayBufferView()) {
    auto view = args[0].As<v8::ArrayBufferView>();
    data = static_cast<const char*>(view->Buffer()->Data()) + view->ByteOffset();
    size = view->ByteLength();
  } else if (args[0]->IsArrayBuffer()) {
    auto buffer = args[0].As<v8::ArrayBuffer>();
    data = static_cast<const char*>(buffer->Data());
    size = buffer->ByteLength();
  } else {
    isolate->ThrowException(v8::Exception::TypeError(str(isolate, "TextDecoder.decode needs an ArrayBuffer or a view")));
    return;
  }
  args.GetReturnValue().Set(str(isolate, std::string_view(data, size)));
}

v8::MaybeLocal<v8::Module> resolve(v8::Local<v8::Context> ctx, v8::Local<v8::String> specifier,
                                   v8::Local<v8::FixedArray>, v8::Local<v8::Module>) {
  v8::Isolate* isolate = ctx->GetIsolate();
  auto* state = static_cast<module_instance::impl*>(isolate->GetData(0));
  std::string name = to_std(isolate, specifier);
  if (name != "spacetime:sys@2.0" && name != "spacetime:sys@2.1") {
    isolate->ThrowException(v8::Exception::TypeError(str(isolate, "Could not find module " + name)));
    return {};
  }
  auto it = state->sys_modules.find(name);
  if (it != state->sys_modules.end()) return it->second.Get(isolate);
  v8::Local<v8::Module> m = make_sys_module(*state, name);
  state->sys_modules[name].Reset(isolate, m);
  return m;
}

std::size_t near_heap_limit(void* data, std::size_t current, std::size_t) {
  auto* state = static_cast<module_instance::impl*>(data);
  state->out_of_heap = true;
  state->broken = true;
  state->isolate->TerminateExecution();
  return current + (std::size_t(32) << 20);  // room to unwind
}

failure load_error(std::string message) { return fail(errc::invalid_argument, std::move(message)); }

} // namespace

module_instance::impl::~impl() {
  if (!isolate) return;
  iterators.clear();
  error_constructors.clear();
  sys_modules.clear();
  sender_error_class.Reset();
  error_constructor_of.Reset();
  call_reducer.Reset();
  hooks.Reset();
  hooks_symbol.Reset();
  module.Reset();
  context.Reset();
  isolate->Dispose();
}

module_instance::module_instance(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
module_instance::~module_instance() = default;

const std::string& module_instance::definition() const { return impl_->definition; }
bool module_instance::broken() const { return impl_->broken; }

void module_instance::bind(datastore& ds, name_bindings names) {
  impl_->ds = &ds;
  impl_->names = std::move(names);
}

result<std::unique_ptr<module_instance>> module_instance::load(const std::string& bundle, module_environment& env,
                                                               module_limits limits) {
  ensure_v8();
  auto state = std::make_unique<impl>();
  state->env = &env;
  state->limits = limits;
  state->allocator.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = state->allocator.get();
  params.constraints.ConfigureDefaultsFromHeapSize(0, limits.heap_limit_bytes);
  state->isolate = v8::Isolate::New(params);
  v8::Isolate* isolate = state->isolate;
  isolate->SetData(0, state.get());
  isolate->AddNearHeapLimitCallback(near_heap_limit, state.get());

  v8::Isolate::Scope entered(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::ObjectTemplate> global = v8::ObjectTemplate::New(isolate);
  global->Set(isolate, "__orrery_utf8_encode", v8::FunctionTemplate::New(isolate, utf8_encode));
  global->Set(isolate, "__orrery_utf8_decode", v8::FunctionTemplate::New(isolate, utf8_decode));
  v8::Local<v8::Context> ctx = v8::Context::New(isolate, nullptr, global);
  state->context.Reset(isolate, ctx);
  v8::Context::Scope in_context(ctx);
  v8::TryCatch caught(isolate);

  // Builtins first.
  v8::Local<v8::Script> polyfills;
  if (!v8::Script::Compile(ctx, str(isolate, polyfill_source)).ToLocal(&polyfills) ||
      polyfills->Run(ctx).IsEmpty())
    return load_error("the host's builtins failed to load: " + describe_exception(isolate, ctx, caught));

  // The bundle, as an ES module.
  v8::ScriptOrigin origin(isolate, str(isolate, "module.js"), 0, 0, false, -1, v8::Local<v8::Value>(), false,
                          false, true);
  v8::ScriptCompiler::Source source(str(isolate, bundle), origin);
  v8::Local<v8::Module> module;
  if (!v8::ScriptCompiler::CompileModule(isolate, &source).ToLocal(&module))
    return load_error("the module does not compile: " + describe_exception(isolate, ctx, caught));
  state->module.Reset(isolate, module);
  if (!module->InstantiateModule(ctx, resolve).FromMaybe(false))
    return load_error("the module cannot be linked: " + describe_exception(isolate, ctx, caught));
  v8::Local<v8::Value> evaluated;
  if (!module->Evaluate(ctx).ToLocal(&evaluated))
    return load_error("the module threw while loading: " + describe_exception(isolate, ctx, caught));
  isolate->PerformMicrotaskCheckpoint();
  if (evaluated->IsPromise()) {
    auto promise = evaluated.As<v8::Promise>();
    if (promise->State() == v8::Promise::kRejected) {
      v8::Local<v8::Value> reason = promise->Result();
      std::string text = to_std(isolate, reason);
      if (reason->IsObject()) {
        v8::Local<v8::Value> stack;
        if (reason.As<v8::Object>()->Get(ctx, str(isolate, "stack")).ToLocal(&stack) && stack->IsString())
          text = to_std(isolate, stack);
      }
      return load_error("the module threw while loading: " + text);
    }
    if (promise->State() == v8::Promise::kPending)
      return load_error("the module's top level is still waiting (top-level await is not supported)");
  }

  // default[moduleHooks](namespace) gives the hooks.
  auto ns = module->GetModuleNamespace().As<v8::Object>();
  v8::Local<v8::Value> default_export;
  if (!ns->Get(ctx, str(isolate, "default")).ToLocal(&default_export) || !default_export->IsObject())
    return load_error("the module has no default export; export the schema: `export default spacetimedb`");
  v8::Local<v8::Value> hook_fn;
  if (state->hooks_symbol.IsEmpty() ||
      !default_export.As<v8::Object>()->Get(ctx, state->hooks_symbol.Get(isolate)).ToLocal(&hook_fn) ||
      !hook_fn->IsFunction())
    return load_error("the module's default export is not a spacetimedb schema");
  v8::Local<v8::Value> ns_value = ns;
  v8::Local<v8::Value> hooks;
  if (!hook_fn.As<v8::Function>()->Call(ctx, default_export, 1, &ns_value).ToLocal(&hooks) || !hooks->IsObject())
    return load_error("the module's hooks failed: " + describe_exception(isolate, ctx, caught));
  auto hooks_object = hooks.As<v8::Object>();
  state->hooks.Reset(isolate, hooks_object);

  auto method = [&](const char* name) -> v8::Local<v8::Function> {
    v8::Local<v8::Value> fn;
    if (hooks_object->Get(ctx, str(isolate, name)).ToLocal(&fn) && fn->IsFunction()) return fn.As<v8::Function>();
    return {};
  };
  v8::Local<v8::Function> describe = method("__describe_module__");
  v8::Local<v8::Function> call = method("__call_reducer__");
  v8::Local<v8::Function> errors = method("__get_error_constructor__");
  if (describe.IsEmpty() || call.IsEmpty() || errors.IsEmpty())
    return load_error("the module's hooks lack __describe_module__, __call_reducer__ or __get_error_constructor__");
  state->call_reducer.Reset(isolate, call);
  state->error_constructor_of.Reset(isolate, errors);
  v8::Local<v8::Value> sender_error;
  if (hooks_object->Get(ctx, str(isolate, "__sender_error_class__")).ToLocal(&sender_error))
    state->sender_error_class.Reset(isolate, sender_error);

  v8::Local<v8::Value> described;
  if (!describe->Call(ctx, hooks_object, 0, nullptr).ToLocal(&described))
    return load_error("describing the module failed: " + describe_exception(isolate, ctx, caught));
  if (!described->IsArrayBufferView()) return load_error("__describe_module__ did not return bytes");
  auto view = described.As<v8::ArrayBufferView>();
  state->definition.resize(view->ByteLength());
  view->CopyContents(state->definition.data(), state->definition.size());
  return std::unique_ptr<module_instance>(new module_instance(std::move(state)));
}

v8::Local<v8::BigInt> big_unsigned(v8::Local<v8::Context> ctx, const std::uint64_t* words, int count) {
  return v8::BigInt::NewFromWords(ctx, 0, count, words).ToLocalChecked();
}

call_outcome module_instance::call_reducer(std::uint32_t id, const identity& sender, const connection_id& connection,
                                           std::int64_t timestamp_micros, std::string_view args, transaction& tx) {
  impl& s = *impl_;
  if (s.broken) return {call_status::internal_error, "the module instance is broken and must be reloaded"};
  v8::Isolate* isolate = s.isolate;
  v8::Isolate::Scope entered(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> ctx = s.context.Get(isolate);
  v8::Context::Scope in_context(ctx);
  v8::TryCatch caught(isolate);

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
  auto buffer = v8::ArrayBuffer::New(isolate, args.size());
  if (!args.empty()) std::memcpy(buffer->Data(), args.data(), args.size());
  v8::Local<v8::Value> argv[5] = {
    v8::Integer::NewFromUnsigned(isolate, id),
    big_unsigned(ctx, sender_words, 4),
    big_unsigned(ctx, connection_words, 2),
    v8::BigInt::New(isolate, timestamp_micros),
    v8::DataView::New(buffer, 0, args.size()),
  };

  s.tx = &tx;
  bool timed_out = false;
  auto ticket = watchdog::arm(isolate, std::chrono::steady_clock::now() + s.limits.reducer_budget, &timed_out);
  v8::MaybeLocal<v8::Value> returned = s.call_reducer.Get(isolate)->Call(ctx, s.hooks.Get(isolate), 5, argv);
  watchdog::disarm(ticket);
  s.tx = nullptr;
  s.iterators.clear();
  s.timers.clear();

  if (!returned.IsEmpty()) {
    if (timed_out) isolate->CancelTerminateExecution();  // it finished just in time
    return {call_status::ok, {}};
  }
  if (caught.HasTerminated() || timed_out || s.out_of_heap) {
    s.broken = true;
    if (s.out_of_heap) return {call_status::internal_error, "the reducer ran out of memory and was stopped"};
    return {call_status::internal_error, "the reducer ran longer than " +
                                           std::to_string(s.limits.reducer_budget.count()) + " ms and was stopped"};
  }
  v8::Local<v8::Value> exception = caught.Exception();
  if (!s.sender_error_class.IsEmpty() && exception->IsObject()) {
    v8::Local<v8::Value> cls = s.sender_error_class.Get(isolate);
    if (cls->IsFunction() && exception->InstanceOf(ctx, cls.As<v8::Object>()).FromMaybe(false)) {
      v8::Local<v8::Value> message;
      if (!exception.As<v8::Object>()->Get(ctx, str(isolate, "message")).ToLocal(&message))
        message = exception;
      return {call_status::user_error, to_std(isolate, message)};
    }
  }
  return {call_status::internal_error, describe_exception(isolate, ctx, caught)};
}

} // namespace orrery
