#include "modules/module_image.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace orrery {

namespace {

bool is_ascii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

/// UTF-8 to UTF-16; a byte that starts no valid sequence becomes U+FFFD.
std::u16string utf16_of(const std::string& text) {
  std::u16string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  auto continuation = [&](std::size_t i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
  while (p < end) {
    std::uint32_t c = *p;
    std::size_t length = 1;
    if (c >= 0xC2 && c <= 0xDF && continuation(1)) {
      c = ((c & 0x1F) << 6) | (p[1] & 0x3F);
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF && continuation(1) && continuation(2)) {
      c = ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
      length = 3;
      if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD, length = 1;
    } else if (c >= 0xF0 && c <= 0xF4 && continuation(1) && continuation(2) && continuation(3)) {
      c = ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
      length = 4;
      if (c < 0x10000 || c > 0x10FFFF) c = 0xFFFD, length = 1;
    } else if (c >= 0x80) {
      c = 0xFFFD;
    }
    if (c >= 0x10000) {
      out.push_back(char16_t(0xD800 + ((c - 0x10000) >> 10)));
      out.push_back(char16_t(0xDC00 + ((c - 0x10000) & 0x3FF)));
    } else {
      out.push_back(char16_t(c));
    }
    p += length;
  }
  return out;
}

} // namespace

void with_source(module_image& image) {
  if (!is_ascii(image.bundle)) image.utf16 = utf16_of(image.bundle);
}

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
  with_source(*image);
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
