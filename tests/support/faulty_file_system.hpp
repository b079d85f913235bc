#pragma once
// A RocksDB file system for tests that fails writes the way a full disk does,
// and loses power: every file falls back to what was last synced. Directory
// entries are kept (created and renamed files survive), contents are not.
// Thread-safe.

#include <rocksdb/file_system.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace orrery::testing {

class faulty_file_system : public rocksdb::FileSystemWrapper {
public:
  faulty_file_system();
  const char* Name() const override { return "faulty_file_system"; }

  /// While on, appends and syncs fail with "no space left on device".
  void fail_writes(bool on) { failing_ = on; }
  /// Power loss: truncates every file written through this file system to its
  /// last synced size. Call once the store using it is closed.
  void drop_unsynced();

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus DeleteFile(const std::string& name, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;

private:
  class tracked_file;
  struct file_state {
    std::uint64_t size = 0;
    std::uint64_t synced = 0;
  };

  rocksdb::IOStatus track(const std::string& name, std::uint64_t size, rocksdb::IOStatus opened,
                          std::unique_ptr<rocksdb::FSWritableFile>* result);

  std::atomic<bool> failing_{false};
  std::mutex mutex_;
  std::map<std::string, file_state> files_;
};

} // namespace orrery::testing
