#include "net/host_api.hpp"

#include <nlohmann/json.hpp>

namespace orrery {

std::optional<verified_token> authenticate(host_services& host, http_call& call,
                                           bool mint_if_missing) {
  auto header = call.request.header("authorization");
  if (!header) {
    if (!mint_if_missing) {
      call.reply(401, "this request needs `Authorization: Bearer <token>`; run `orrery login`");
      return std::nullopt;
    }
    verified_token minted;
    std::string token = host.tokens.mint(minted.id);
    call.extra_headers.emplace_back("spacetime-identity", minted.id.to_hex());
    call.extra_headers.emplace_back("spacetime-identity-token", token);
    return minted;
  }
  constexpr std::string_view scheme = "Bearer ";
  if (header->compare(0, scheme.size(), scheme) != 0) {
    call.reply(400, "Authorization header must be `Bearer <token>`");
    return std::nullopt;
  }
  std::string token = header->substr(scheme.size());
  token_check check = host.tokens.verify(token);
  if (!check.token) {
    call.reply(check.problem == token_problem::malformed ? 400 : 401, "invalid token: " + check.message);
    return std::nullopt;
  }
  call.extra_headers.emplace_back("spacetime-identity", check.token->id.to_hex());
  call.extra_headers.emplace_back("spacetime-identity-token", token);
  return check.token;
}

void reply_error(http_call& call, const caf::error& err) {
  int status = 500;
  if (err.category() == caf::atom("orrery")) {
    switch (static_cast<host_errc>(err.code())) {
      case host_errc::no_such_database: status = 404; break;
      case host_errc::not_owner: status = 403; break;
      case host_errc::name_taken:
        return call.reply(http_response::json(
          401, nlohmann::json{{"PermissionDenied", {{"name", error_message(err)}}}}.dump()));
      case host_errc::invalid_argument: status = 400; break;
      case host_errc::locked: status = 403; break;
      case host_errc::storage_failure: status = 500; break;
      case host_errc::busy: status = 503; break;
    }
  } else if (err == caf::sec::request_timeout) {
    status = 503;
  }
  call.reply(status, error_message(err));
}

} // namespace orrery
