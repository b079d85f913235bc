#include "modules/module_image.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace orrery {

namespace {

bool is_ascii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

} // namespace

std::u16string utf16_of(const std::string& text) {
  std::u16string out;
  out.reserve(text.size());
  auto emit = [&](std::uint32_t c) {
    if (c >= 0x10000) {
      out.push_back(char16_t(0xD800 + ((c - 0x10000) >> 10)));
      out.push_back(char16_t(0xDC00 + ((c - 0x10000) & 0x3FF)));
    } else {
      out.push_back(char16_t(c));
    }
  };
  std::uint32_t code = 0;
  int needed = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned b = static_cast<unsigned char>(text[i]);
    if (needed == 0) {
      ++i;
      if (b < 0x80) emit(b);
      else if (b >= 0xC2 && b <= 0xDF) needed = 1, code = b & 0x1F;
      else if (b >= 0xE0 && b <= 0xEF) {
        needed = 2, code = b & 0x0F;
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
      } else if (b >= 0xF0 && b <= 0xF4) {
        needed = 3, code = b & 0x07;
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
      } else {
        emit(0xFFFD);
      }
      continue;
    }
    if (b < lower || b > upper) {  // the sequence breaks here: this byte starts afresh
      emit(0xFFFD);
      needed = seen = 0, code = 0, lower = 0x80, upper = 0xBF;
      continue;
    }
    ++i;
    lower = 0x80, upper = 0xBF;
    code = (code << 6) | (b & 0x3F);
    if (++seen == needed) {
      emit(code);
      needed = seen = 0, code = 0;
    }
  }
  if (needed) emit(0xFFFD);
  return out;
}

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
