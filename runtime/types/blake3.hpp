#pragma once
// BLAKE3 (default hash mode, 32-byte output). Identities are derived with it.
// Pure function, callable from any thread.

#include <array>
#include <cstdint>
#include <string_view>

namespace orrery {

using digest32 = std::array<std::uint8_t, 32>;

/// The 32-byte BLAKE3 hash of `data`.
digest32 blake3(std::string_view data);

} // namespace orrery
