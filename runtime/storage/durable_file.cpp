#include "runtime/storage/durable_file.hpp"

#include "runtime/types/identity.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace orrery {
namespace {

status failed(const std::string& what, const std::string& path) {
  return {"cannot " + what + " " + path + ": " + std::strerror(errno)};
}

/// The folder holding `path` ("." for a bare file name).
std::string folder_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

} // namespace

status write_file_durably(const std::string& path, std::string_view contents, mode_t mode) {
  // A fresh name each time: O_EXCL then never opens a file someone else made.
  std::string temp = path + ".tmp-" + random_uuid();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return failed("create", temp);

  auto abandon = [&](const char* what) {
    status s = failed(what, temp);
    ::close(fd);
    ::unlink(temp.c_str());
    return s;
  };
  std::size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return abandon("write");
    written += std::size_t(n);
  }
  if (::fsync(fd) != 0) return abandon("flush to disk");
  if (::close(fd) != 0) {
    status s = failed("close", temp);
    ::unlink(temp.c_str());
    return s;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    status s = failed("rename " + temp + " to", path);
    ::unlink(temp.c_str());
    return s;
  }
  // The rename is durable only once the folder's entry is.
  std::string folder = folder_of(path);
  int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return failed("open the folder", folder);
  int synced = ::fsync(dir);
  int sync_errno = errno;
  ::close(dir);
  if (synced != 0) {
    errno = sync_errno;
    return failed("flush to disk the folder", folder);
  }
  return {};
}

} // namespace orrery
