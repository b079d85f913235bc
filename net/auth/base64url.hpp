#pragma once
// Unpadded base64url (RFC 4648 section 5), as used in JSON Web Tokens.

#include <optional>
#include <string>
#include <string_view>

namespace orrery {

std::string base64url_encode(std::string_view bytes);
/// nullopt on a character outside the alphabet or an impossible length.
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace orrery
