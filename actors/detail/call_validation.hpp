#pragma once
// Private to the database actor: whether a client's reducer or procedure
// call may run, checked the same way for calls over HTTP and over WebSocket:
// it exists, clients may call it, and its arguments fit its parameters.
// Pure; called on the database actor's thread.

#include "actors/messages.hpp"
#include "modules/module_def.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace orrery::detail {

/// Where a call comes from. Arguments that do not fit are reported as each
/// protocol always has: HTTP names "reducer `<its name>`", WebSocket
/// "`<the name the client called>`".
enum class call_origin { http, websocket };

/// A call that may run: the reducer's (or procedure's) id and its arguments as BSATN.
struct checked_call {
  std::uint32_t id = 0;
  std::string args;
};

/// Why a call may not run.
struct refused_call {
  call_result_kind kind;
  std::string message;
};

/// Checks a call of reducer `name` with `args` (BSATN, or JSON when
/// `args_are_json`, converted to BSATN) against the module `def`.
std::variant<checked_call, refused_call> check_call(const module_def& def, const std::string& name, std::string args,
                                                    bool args_are_json, call_origin origin);

/// The same checks for a call of procedure `name`.
std::variant<checked_call, refused_call> check_procedure_call(const module_def& def, const std::string& name,
                                                              std::string args, bool args_are_json, call_origin origin);

} // namespace orrery::detail
