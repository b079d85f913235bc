#include "modules/module_image.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

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

std::shared_ptr<const module_image> module_image_cache::find(const std::string& hash) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = images_.find(hash);
  return it == images_.end() ? nullptr : it->second.lock();
}

void module_image_cache::keep(const std::string& hash, const std::shared_ptr<const module_image>& image) {
  std::lock_guard<std::mutex> lock(mutex_);
  images_[hash] = image;
  if (images_.size() < prune_at_) return;
  for (auto it = images_.begin(); it != images_.end();) it = it->second.expired() ? images_.erase(it) : std::next(it);
  prune_at_ = std::max<std::size_t>(64, 2 * images_.size());
}

} // namespace orrery
