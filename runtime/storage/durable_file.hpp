#pragma once
// Files the host keeps outside the store (the token signing key), written so a
// crash or power loss leaves either the old contents or all of the new ones,
// never an empty or half-written file. Free functions; any thread, but two
// writers of the same path at once must be kept apart by the caller.

#include "runtime/storage/store.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>

namespace orrery {

/// Replaces `path` with `contents`: writes a new file beside it, fsyncs it,
/// renames it over `path` and fsyncs the folder. The new file is created with
/// `mode` (less the process umask) from its first byte, so a secret written with
/// 0600 is never readable by others. On failure `path` is unchanged and the
/// error names the file and the failing step.
[[nodiscard]] status write_file_durably(const std::string& path, std::string_view contents,
                                        mode_t mode = 0644);

} // namespace orrery
