#include "actors/messages.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace orrery {

namespace {
constexpr caf::atom_value category = caf::atom("orrery");
}

caf::error make_error(host_errc code, std::string message) {
  return caf::error(static_cast<std::uint8_t>(code), category,
                    caf::make_message(std::move(message)));
}

std::string error_message(const caf::error& err) {
  if (!err) return {};  // CAF's empty error has no category to read
  if (err.category() == category && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  if (err.category() == caf::atom("system") &&
      err.code() == static_cast<std::uint8_t>(caf::sec::request_timeout))
    return "the host did not answer in time";
  return caf::to_string(err);
}

} // namespace orrery
