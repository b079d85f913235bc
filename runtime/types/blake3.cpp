#include "runtime/types/blake3.hpp"

#include <cstring>
#include <vector>

namespace orrery {
namespace {

constexpr std::uint32_t iv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
constexpr std::size_t permutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
constexpr std::size_t block_len = 64;
constexpr std::size_t chunk_len = 1024;
constexpr std::uint32_t chunk_start = 1, chunk_end = 2, parent = 4, root = 8;

using words8 = std::array<std::uint32_t, 8>;

std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void mix(std::uint32_t* s, int a, int b, int c, int d, std::uint32_t x, std::uint32_t y) {
  s[a] = s[a] + s[b] + x;
  s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 7);
}

words8 compress(const words8& cv, const std::uint8_t* block, std::uint32_t len,
                std::uint64_t counter, std::uint32_t flags) {
  std::uint32_t m[16];
  std::uint8_t padded[block_len] = {};
  std::memcpy(padded, block, len);
  for (int i = 0; i < 16; ++i)
    m[i] = std::uint32_t(padded[4 * i]) | std::uint32_t(padded[4 * i + 1]) << 8 |
           std::uint32_t(padded[4 * i + 2]) << 16 | std::uint32_t(padded[4 * i + 3]) << 24;
  std::uint32_t s[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                         iv[0], iv[1], iv[2], iv[3], std::uint32_t(counter),
                         std::uint32_t(counter >> 32), len, flags};
  for (int r = 0; r < 7; ++r) {
    mix(s, 0, 4, 8, 12, m[0], m[1]);
    mix(s, 1, 5, 9, 13, m[2], m[3]);
    mix(s, 2, 6, 10, 14, m[4], m[5]);
    mix(s, 3, 7, 11, 15, m[6], m[7]);
    mix(s, 0, 5, 10, 15, m[8], m[9]);
    mix(s, 1, 6, 11, 12, m[10], m[11]);
    mix(s, 2, 7, 8, 13, m[12], m[13]);
    mix(s, 3, 4, 9, 14, m[14], m[15]);
    std::uint32_t next[16];
    for (int i = 0; i < 16; ++i) next[i] = m[permutation[i]];
    std::memcpy(m, next, sizeof m);
  }
  words8 out;
  for (int i = 0; i < 8; ++i) out[i] = s[i] ^ s[i + 8];
  return out;
}

// The last compression of a node, kept open so the root flag can be added.
struct pending_output {
  words8 cv;
  std::uint8_t block[block_len];
  std::uint32_t len;
  std::uint64_t counter;
  std::uint32_t flags;

  words8 chaining_value() const { return compress(cv, block, len, counter, flags); }
  words8 root_value() const { return compress(cv, block, len, 0, flags | root); }
};

pending_output chunk_output(const std::uint8_t* data, std::size_t size, std::uint64_t index) {
  words8 cv;
  std::copy(std::begin(iv), std::end(iv), cv.begin());
  std::size_t offset = 0;
  std::uint32_t flags = chunk_start;
  while (size - offset > block_len) {
    cv = compress(cv, data + offset, block_len, index, flags);
    flags = 0;
    offset += block_len;
  }
  pending_output out{cv, {}, std::uint32_t(size - offset), index, flags | chunk_end};
  std::memcpy(out.block, data + offset, size - offset);
  return out;
}

pending_output parent_output(const words8& left, const words8& right) {
  pending_output out{};
  std::copy(std::begin(iv), std::end(iv), out.cv.begin());
  for (int i = 0; i < 8; ++i) {
    for (int b = 0; b < 4; ++b) {
      out.block[4 * i + b] = std::uint8_t(left[i] >> (8 * b));
      out.block[32 + 4 * i + b] = std::uint8_t(right[i] >> (8 * b));
    }
  }
  out.len = block_len;
  out.counter = 0;
  out.flags = parent;
  return out;
}

} // namespace

digest32 blake3(std::string_view input) {
  auto data = reinterpret_cast<const std::uint8_t*>(input.data());
  std::size_t size = input.size();
  std::vector<words8> stack;  // chaining values of complete subtrees
  std::uint64_t chunks = 0;
  std::size_t offset = 0;
  while (size - offset > chunk_len) {
    words8 cv = chunk_output(data + offset, chunk_len, chunks).chaining_value();
    ++chunks;
    for (std::uint64_t total = chunks; (total & 1) == 0; total >>= 1) {
      cv = parent_output(stack.back(), cv).chaining_value();
      stack.pop_back();
    }
    stack.push_back(cv);
    offset += chunk_len;
  }
  pending_output out = chunk_output(data + offset, size - offset, chunks);
  while (!stack.empty()) {
    out = parent_output(stack.back(), out.chaining_value());
    stack.pop_back();
  }
  words8 words = out.root_value();
  digest32 digest;
  for (int i = 0; i < 8; ++i)
    for (int b = 0; b < 4; ++b) digest[4 * i + b] = std::uint8_t(words[i] >> (8 * b));
  return digest;
}

} // namespace orrery
