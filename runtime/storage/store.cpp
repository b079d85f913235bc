#include "runtime/storage/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>

namespace orrery {
namespace {

// The smallest key greater than every key starting with `prefix`.
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = char(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

} // namespace

write_batch::write_batch() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
write_batch::~write_batch() = default;
write_batch::write_batch(write_batch&&) noexcept = default;
write_batch& write_batch::operator=(write_batch&&) noexcept = default;

void write_batch::put(std::string_view key, std::string_view value) {
  batch_->Put(slice(key), slice(value));
}
void write_batch::erase(std::string_view key) { batch_->Delete(slice(key)); }
void write_batch::erase_prefix(std::string_view prefix) {
  batch_->DeleteRange(slice(prefix), prefix_end(prefix));
}
// A batch's representation is a 12-byte header (sequence number, record
// count) followed by its records, so batches concatenate by splicing records.
write_batch write_batch::concat(const std::vector<const write_batch*>& parts) {
  constexpr std::size_t header = 12;
  std::size_t size = header;
  std::uint32_t count = 0;
  for (auto* p : parts) {
    size += p->batch_->GetDataSize() - header;
    count += p->batch_->Count();
  }
  std::string rep(header, '\0');
  rep.reserve(size);
  for (auto* p : parts) rep.append(p->batch_->Data(), header, std::string::npos);
  for (int i = 0; i < 4; ++i) rep[8 + i] = char(count >> (8 * i));
  write_batch combined;
  *combined.batch_ = rocksdb::WriteBatch(rep);
  return combined;
}
bool write_batch::empty() const { return batch_->Count() == 0; }

store::store(rocksdb::DB* db, std::unique_ptr<rocksdb::Env> env) : env_(std::move(env)), db_(db) {}
store::~store() {
  if (db_) db_->Close().PermitUncheckedError();
}

std::unique_ptr<store> store::open(const std::string& dir, std::string& error,
                                   std::shared_ptr<rocksdb::FileSystem> files) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  std::unique_ptr<rocksdb::Env> env;
  if (files) {
    env = rocksdb::NewCompositeEnv(files);
    options.env = env.get();
  }
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) {
    error = "cannot open the data store in " + dir + ": " + s.ToString();
    return nullptr;
  }
  return std::unique_ptr<store>(new store(db, std::move(env)));
}

std::optional<std::string> store::get(std::string_view key) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), slice(key), &value);
  if (!s.ok()) return std::nullopt;
  return value;
}

status store::write(write_batch& batch, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  auto s = db_->Write(options, batch.batch_.get());
  if (!s.ok()) return {s.ToString()};
  return {};
}

void store::scan(std::string_view prefix, const visitor& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next())
    if (!visit({it->key().data(), it->key().size()}, {it->value().data(), it->value().size()}))
      return;
}

void store::scan_reverse(std::string_view prefix, const visitor& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::string end = prefix_end(prefix);
  if (end.empty()) it->SeekToLast();
  else it->SeekForPrev(end);
  for (; it->Valid() && it->key().starts_with(slice(prefix)); it->Prev()) {
    if (it->key() == slice(end)) continue;
    if (!visit({it->key().data(), it->key().size()}, {it->value().data(), it->value().size()}))
      return;
  }
}

void append_u64(std::string& key, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(char(value >> shift));
}

std::uint64_t read_u64(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i)
    value = value << 8 | static_cast<unsigned char>(bytes[i]);
  return value;
}

} // namespace orrery
