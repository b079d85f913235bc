#include "actors/detail/call_validation.hpp"

#include "runtime/types/bsatn.hpp"
#include "runtime/types/sats_json.hpp"

#include <optional>
#include <utility>

namespace orrery::detail {
namespace {

/// Why a client may not call `reducer`, if it may not.
std::optional<std::string> refusal(const reducer_def& reducer) {
  if (reducer.kind != lifecycle::none) return "`" + reducer.name + "` is a lifecycle reducer and cannot be called";
  if (!reducer.client_callable)
    return "`" + reducer.name + "` is not callable by clients (only its schedule calls it)";
  return std::nullopt;
}

/// `args` (BSATN, or JSON converted to BSATN) checked against `params`.
std::variant<checked_call, refused_call> checked_arguments(std::uint32_t id, const algebraic_type& params,
                                                           std::string args, bool args_are_json,
                                                           const std::string& called) {
  auto invalid = [&](const std::string& problem) {
    return refused_call{call_result_kind::bad_arguments, "invalid arguments for " + called + ": " + problem};
  };
  if (args_are_json) {
    auto parsed = from_sats_json(params, args.empty() ? std::string("[]") : args);
    if (!parsed) return invalid(parsed.error().message);
    args = encode_value(*parsed);
  } else if (auto problem = validate(params, args)) {
    return invalid(*problem);
  }
  return checked_call{id, std::move(args)};
}

} // namespace

std::variant<checked_call, refused_call> check_call(const module_def& def, const std::string& name, std::string args,
                                                    bool args_are_json, call_origin origin) {
  auto id = def.reducer_id(name);
  if (!id) return refused_call{call_result_kind::no_such_reducer, "no such reducer: `" + name + "`"};
  const reducer_def& reducer = def.reducers[*id];
  if (auto refused = refusal(reducer)) return refused_call{call_result_kind::bad_arguments, *refused};
  return checked_arguments(*id, reducer.params, std::move(args), args_are_json,
                           origin == call_origin::http ? "reducer `" + reducer.name + "`" : "`" + name + "`");
}

std::variant<checked_call, refused_call> check_procedure_call(const module_def& def, const std::string& name,
                                                              std::string args, bool args_are_json, call_origin origin) {
  auto id = def.procedure_id(name);
  if (!id) return refused_call{call_result_kind::no_such_reducer, "no such procedure: `" + name + "`"};
  const procedure_def& procedure = def.procedures[*id];
  if (!procedure.client_callable)
    return refused_call{call_result_kind::bad_arguments, "`" + procedure.name + "` is not callable by clients"};
  return checked_arguments(*id, procedure.params, std::move(args), args_are_json,
                           origin == call_origin::http ? "procedure `" + procedure.name + "`" : "`" + name + "`");
}

} // namespace orrery::detail
