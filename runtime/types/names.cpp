#include "runtime/types/names.hpp"

#include <cctype>

#include "runtime/types/identity.hpp"

namespace orrery {

std::optional<std::string> database_name_error(std::string_view name) {
  constexpr std::size_t max_length = 64;
  auto quoted = "database name `" + std::string(name) + "` ";
  if (name.empty()) return std::string("database name is empty");
  if (name.size() > max_length)
    return quoted + "is longer than " + std::to_string(max_length) + " characters";
  if (looks_like_identity(name)) return quoted + "would be read as an identity";
  bool previous_hyphen = true;  // a leading hyphen is as wrong as a doubled one
  for (char c : name) {
    bool word_char = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '-') {
      if (previous_hyphen) return quoted + "must not start with a hyphen or contain two in a row";
      previous_hyphen = true;
    } else if (!word_char) {
      return quoted + "may contain only lowercase letters, digits and single hyphens " +
             "(pattern ^[a-z0-9]+(-[a-z0-9]+)*$)";
    } else {
      previous_hyphen = false;
    }
  }
  if (previous_hyphen) return quoted + "must not end with a hyphen";
  return std::nullopt;
}

bool looks_like_identity(std::string_view text) {
  return identity::from_hex(text).has_value();
}

std::string snake_case(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      bool after_lower = i > 0 && (std::islower(static_cast<unsigned char>(name[i - 1])) ||
                                   std::isdigit(static_cast<unsigned char>(name[i - 1])));
      bool acronym_end = i > 0 && std::isupper(static_cast<unsigned char>(name[i - 1])) && i + 1 < name.size() &&
                         std::islower(static_cast<unsigned char>(name[i + 1]));
      if ((after_lower || acronym_end) && !out.empty() && out.back() != '_') out.push_back('_');
      out.push_back(char(std::tolower(static_cast<unsigned char>(c))));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

} // namespace orrery
