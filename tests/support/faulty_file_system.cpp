#include "tests/support/faulty_file_system.hpp"

#include <unistd.h>

namespace orrery::testing {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

namespace {
IOStatus no_space() { return IOStatus::NoSpace("no space left on device (injected)"); }
} // namespace

class faulty_file_system::tracked_file : public rocksdb::FSWritableFileOwnerWrapper {
public:
  tracked_file(std::unique_ptr<rocksdb::FSWritableFile> file, faulty_file_system& fs, std::string name)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), name_(std::move(name)) {}

  IOStatus Append(const rocksdb::Slice& data, const IOOptions& options, IODebugContext* debug) override {
    if (fs_.failing_) return no_space();
    IOStatus s = target()->Append(data, options, debug);
    if (s.ok()) grow(data.size());
    return s;
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& options, const rocksdb::DataVerificationInfo& info,
                  IODebugContext* debug) override {
    if (fs_.failing_) return no_space();
    IOStatus s = target()->Append(data, options, info, debug);
    if (s.ok()) grow(data.size());
    return s;
  }
  IOStatus Truncate(std::uint64_t size, const IOOptions& options, IODebugContext* debug) override {
    IOStatus s = target()->Truncate(size, options, debug);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(fs_.mutex_);
      auto& f = fs_.files_[name_];
      f.size = size;
      f.synced = std::min(f.synced, size);
    }
    return s;
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* debug) override {
    return synced(target()->Sync(options, debug));
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* debug) override {
    return synced(target()->Fsync(options, debug));
  }
  IOStatus RangeSync(std::uint64_t, std::uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::OK();  // syncs nothing we count on
  }

private:
  void grow(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(fs_.mutex_);
    fs_.files_[name_].size += bytes;
  }
  IOStatus synced(IOStatus s) {
    if (fs_.failing_) return no_space();
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(fs_.mutex_);
      auto& f = fs_.files_[name_];
      f.synced = f.size;
    }
    return s;
  }

  faulty_file_system& fs_;
  std::string name_;
};

faulty_file_system::faulty_file_system() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

IOStatus faulty_file_system::track(const std::string& name, std::uint64_t size, IOStatus opened,
                                   std::unique_ptr<rocksdb::FSWritableFile>* result) {
  if (!opened.ok()) return opened;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& f = files_[name];
    f.size = size;
    f.synced = std::min(f.synced, size);
  }
  *result = std::make_unique<tracked_file>(std::move(*result), *this, name);
  return opened;
}

IOStatus faulty_file_system::NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                             std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* debug) {
  if (failing_) return no_space();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    files_[name] = {};
  }
  return track(name, 0, target()->NewWritableFile(name, options, result, debug), result);
}

IOStatus faulty_file_system::ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                                std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                IODebugContext* debug) {
  std::uint64_t size = 0;
  target()->GetFileSize(name, IOOptions(), &size, debug).PermitUncheckedError();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!files_.count(name)) files_[name] = {size, size};  // written before we watched: on disk
  }
  return track(name, size, target()->ReopenWritableFile(name, options, result, debug), result);
}

IOStatus faulty_file_system::RenameFile(const std::string& from, const std::string& to, const IOOptions& options,
                                        IODebugContext* debug) {
  IOStatus s = target()->RenameFile(from, to, options, debug);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = files_.find(from);
    if (it != files_.end()) {
      files_[to] = it->second;
      files_.erase(it);
    } else {
      files_.erase(to);
    }
  }
  return s;
}

IOStatus faulty_file_system::DeleteFile(const std::string& name, const IOOptions& options, IODebugContext* debug) {
  IOStatus s = target()->DeleteFile(name, options, debug);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    files_.erase(name);
  }
  return s;
}

void faulty_file_system::drop_unsynced() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [name, f] : files_)
    if (f.synced < f.size) (void)::truncate(name.c_str(), off_t(f.synced));
  files_.clear();
}

} // namespace orrery::testing
