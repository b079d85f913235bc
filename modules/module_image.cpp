#include "modules/module_image.hpp"

#include <cstdint>

namespace orrery {

// definition length (8 bytes little-endian), definition, code cache.

std::string encode_stored_image(const module_image& image) {
  std::string out;
  std::uint64_t length = image.definition.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((length >> (8 * i)) & 0xff));
  out += image.definition;
  out += image.code_cache;
  return out;
}

std::shared_ptr<const module_image> decode_stored_image(std::string bundle, std::string_view stored) {
  if (stored.size() < 8) return nullptr;
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= std::uint64_t(std::uint8_t(stored[i])) << (8 * i);
  if (length > stored.size() - 8 || length == 0) return nullptr;
  auto image = std::make_shared<module_image>();
  image->bundle = std::move(bundle);
  image->definition = std::string(stored.substr(8, length));
  image->code_cache = std::string(stored.substr(8 + length));
  return image;
}

} // namespace orrery
