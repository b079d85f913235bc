#pragma once
// The host's one RocksDB instance. Every part of the host keeps its data under
// its own key prefix (the layout is in keys.hpp). Thread-safe: RocksDB
// serialises writers itself; each prefix has a single writing actor.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
class Env;
class FileSystem;
class WriteBatch;
} // namespace rocksdb

namespace orrery {

struct status {
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

/// Writes applied atomically by `store::write`.
class write_batch {
public:
  write_batch();
  ~write_batch();
  write_batch(write_batch&&) noexcept;
  write_batch& operator=(write_batch&&) noexcept;

  void put(std::string_view key, std::string_view value);
  void erase(std::string_view key);
  /// Erases every key that starts with `prefix`.
  void erase_prefix(std::string_view prefix);
  /// One batch holding the writes of `parts`, in order.
  static write_batch concat(const std::vector<const write_batch*>& parts);
  bool empty() const;

private:
  friend class store;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
};

class store {
public:
  /// Opens (creating if needed) the store in `dir`; nullptr with `error` set on
  /// failure. Tests pass a file system that injects faults; it must outlive the store.
  static std::unique_ptr<store> open(const std::string& dir, std::string& error,
                                     std::shared_ptr<rocksdb::FileSystem> files = nullptr);
  ~store();

  std::optional<std::string> get(std::string_view key) const;
  /// `sync` waits for the write-ahead log to reach the disk.
  [[nodiscard]] status write(write_batch& batch, bool sync);

  /// Calls `visit` for each key under `prefix` in key order until it returns false.
  using visitor = std::function<bool(std::string_view key, std::string_view value)>;
  void scan(std::string_view prefix, const visitor& visit) const;
  /// Same, newest key first.
  void scan_reverse(std::string_view prefix, const visitor& visit) const;

private:
  store(rocksdb::DB* db, std::unique_ptr<rocksdb::Env> env);
  std::unique_ptr<rocksdb::Env> env_;  // outlives db_
  std::unique_ptr<rocksdb::DB> db_;
};

/// Appends `value` big-endian, so keys with numbers sort numerically.
void append_u64(std::string& key, std::uint64_t value);
std::uint64_t read_u64(std::string_view bytes);

} // namespace orrery
