#include "runtime/storage/datastore.hpp"

#include "runtime/storage/commit_log.hpp"
#include "runtime/storage/committer.hpp"
#include "runtime/storage/keys.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/storage/table_snapshot.hpp"
#include "runtime/types/index_key.hpp"

#include <algorithm>
#include <cstring>

namespace orrery {

namespace {
// Values a sequence reserves in the store at a time; a crash skips the rest.
constexpr i128 sequence_block = 4096;

i128 type_max(const algebraic_type& t) {
  switch (t.kind) {
    case type_kind::i8: return INT8_MAX;
    case type_kind::u8: return UINT8_MAX;
    case type_kind::i16: return INT16_MAX;
    case type_kind::u16: return UINT16_MAX;
    case type_kind::i32: return INT32_MAX;
    case type_kind::u32: return UINT32_MAX;
    case type_kind::i64: return INT64_MAX;
    case type_kind::u64: return i128(UINT64_MAX);
    default: return i128(~u128(0) >> 1);  // 128 bits and wider: as far as i128 goes
  }
}

bool all_zero(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

// Writes `v` little-endian over the column's `width` bytes (sign-extended).
void write_int(char* p, std::size_t width, i128 v) {
  for (std::size_t i = 0; i < width; ++i) p[i] = char(i < 16 ? u128(v) >> (8 * i) : (v < 0 ? 0xFF : 0));
}

failure no_table(table_id id) { return fail(errc::no_such_table, "no table with id " + std::to_string(id)); }
failure no_index(index_id id) { return fail(errc::no_such_index, "no index with id " + std::to_string(id)); }
failure not_in_tx() { return fail(errc::not_in_transaction, "no transaction is open"); }
} // namespace

struct datastore::sequence_state {
  sequence_schema schema;
  std::size_t width = 0;
  i128 max = 0;
  i128 next = 1;              // the next value to hand out
  i128 reserved_until = 1;    // values below this are reserved in memory
  i128 persisted_until = 1;   // ... and below this in the store
};

struct datastore::table_state {
  std::unique_ptr<table> data;
  std::vector<sequence_state> sequences;
  bool changed_since_checkpoint = false;
  std::size_t snapshot_bytes = 0;  // as stored at the last checkpoint (or load)
};

datastore::datastore(store* db, committer* durability, std::uint64_t id, std::size_t checkpoint_bytes)
    : db_(db), durability_(durability), id_(id), checkpoint_bytes_(checkpoint_bytes),
      log_(std::make_unique<commit_log>(id)) {}

datastore::~datastore() = default;

result<std::unique_ptr<datastore>> datastore::open(store* db, committer* durability,
                                                   std::uint64_t database_id, std::size_t checkpoint_bytes) {
  std::unique_ptr<datastore> ds(new datastore(db, durability, database_id, checkpoint_bytes));
  if (db) {
    auto loaded = ds->load();
    if (!loaded) return loaded.error();
  }
  return ds;
}

result<done> datastore::load() {
  std::optional<failure> problem;
  db_->scan(keys::table_schemas(id_), [&](std::string_view, std::string_view bytes) {
    auto schema = decode_schema(bytes);
    if (!schema) {
      problem = schema.error();
      return false;
    }
    auto st = std::make_unique<table_state>();
    for (auto& q : schema->sequences) {
      sequence_state s;
      s.schema = q;
      auto& type = schema->columns.at(q.column).type;
      s.width = *type.fixed_size();
      s.max = q.max_value != 0 ? q.max_value : type_max(type);
      s.next = s.reserved_until = s.persisted_until = q.start;
      st->sequences.push_back(s);
    }
    next_table_id_ = std::max(next_table_id_, schema->id + 1);
    for (auto& ix : schema->indexes) next_index_id_ = std::max(next_index_id_, ix.id + 1);
    st->data = std::make_unique<table>(std::move(*schema));
    tables_.push_back(std::move(st));
    return true;
  });
  if (problem) return *problem;

  for (auto& st : tables_) {
    const table_schema& schema = st->data->schema();
    auto read = table_snapshot::read(*db_, id_, schema, [&](std::string_view row) { st->data->insert(row); });
    if (!read) return read.error();
    st->snapshot_bytes = *read;
    for (auto& s : st->sequences) {
      auto stored = db_->get(keys::sequence(id_, schema.id, s.schema.column));
      if (stored && stored->size() == sizeof(i128)) {
        i128 until;
        std::memcpy(&until, stored->data(), sizeof until);
        // Values below `until` may have been handed out before a crash: skip them.
        s.next = s.reserved_until = s.persisted_until = until;
      }
    }
  }
  return log_->recover(*db_, [this](std::uint32_t table, commit_log::change what, std::string_view row) {
    return replay(table, what == commit_log::change::inserted, row);
  });
}

result<done> datastore::replay(std::uint32_t table, bool inserted, std::string_view row) {
  table_state* st = state_of(table);
  if (!st) return fail(errc::storage, "it changes table " + std::to_string(table) + ", which does not exist");
  st->changed_since_checkpoint = true;
  auto& rows = *st->data;
  try {
    if (auto existing = rows.find_stored(rows.storage_key(row))) {
      rows.unlink(*existing);
      rows.release(*existing);
    }
    if (inserted) rows.insert(row);
  } catch (const bsatn_error& e) {
    return fail(errc::storage, "a row of table `" + rows.schema().name + "` is damaged: " + e.what());
  }
  return done{};
}

void datastore::checkpoint(write_batch& batch) {
  for (auto& st : tables_)
    if (st->changed_since_checkpoint) {
      st->snapshot_bytes = table_snapshot::write(batch, id_, *st->data);
      st->changed_since_checkpoint = false;
    }
  log_->erase(batch);
}

void datastore::checkpoint_now(std::function<void()> on_durable) {
  if (!db_ || in_tx_ || log_->logged_bytes() == 0) {
    if (on_durable) on_durable();
    return;
  }
  write_batch batch;
  checkpoint(batch);
  submit(std::move(batch), std::move(on_durable));
}

void datastore::submit(write_batch batch, std::function<void()> on_durable) {
  if (db_ && durability_) durability_->submit(std::move(batch), std::move(on_durable));
  else if (on_durable) on_durable();
}

result<table_id> datastore::create_table(table_schema schema, std::function<void()> on_durable) {
  if (in_tx_) return fail(errc::invalid_argument, "cannot change tables inside a transaction");
  if (find_table(schema.name))
    return fail(errc::invalid_argument, "table `" + schema.name + "` exists already");
  if (schema.columns.empty()) return fail(errc::invalid_argument, "table `" + schema.name + "` has no columns");
  if (schema.id == 0) schema.id = next_table_id_;
  if (find_table(schema.id)) return fail(errc::invalid_argument, "table id " + std::to_string(schema.id) + " is taken");
  next_table_id_ = std::max(next_table_id_, schema.id + 1);
  for (auto& ix : schema.indexes) {
    for (auto c : ix.columns)
      if (c >= schema.columns.size())
        return fail(errc::invalid_argument, "index `" + ix.name + "` names column " + std::to_string(c) +
                                              " of a table with " + std::to_string(schema.columns.size()));
    if (ix.id == 0) ix.id = next_index_id_;
    next_index_id_ = std::max(next_index_id_, ix.id + 1);
  }
  auto st = std::make_unique<table_state>();
  for (auto& q : schema.sequences) {
    if (q.column >= schema.columns.size() || !schema.columns[q.column].type.is_integer())
      return fail(errc::invalid_argument, "auto_inc needs an integer column in table `" + schema.name + "`");
    sequence_state s;
    s.schema = q;
    auto& type = schema.columns[q.column].type;
    s.width = *type.fixed_size();
    s.max = q.max_value != 0 ? q.max_value : type_max(type);
    s.next = s.reserved_until = s.persisted_until = q.start;
    st->sequences.push_back(s);
  }
  write_batch batch;
  batch.put(keys::table_schema(id_, schema.id), encode_schema(schema));
  table_id id = schema.id;
  st->data = std::make_unique<table>(std::move(schema));
  tables_.push_back(std::move(st));
  submit(std::move(batch), std::move(on_durable));
  return id;
}

result<done> datastore::drop_table(table_id id, std::function<void()> on_durable) {
  if (in_tx_) return fail(errc::invalid_argument, "cannot change tables inside a transaction");
  auto it = std::find_if(tables_.begin(), tables_.end(),
                         [&](auto& st) { return st->data->schema().id == id; });
  if (it == tables_.end()) return no_table(id);
  tables_.erase(it);
  write_batch batch;
  checkpoint(batch);  // no logged change of the table outlives it
  batch.erase(keys::table_schema(id_, id));
  table_snapshot::erase(batch, id_, id);
  batch.erase_prefix(keys::table_sequences(id_, id));
  submit(std::move(batch), std::move(on_durable));
  return done{};
}

result<done> datastore::rename_columns(table_id id, const std::vector<std::string>& names,
                                       std::function<void()> on_durable) {
  if (in_tx_) return fail(errc::invalid_argument, "cannot change tables inside a transaction");
  auto* st = state_of(id);
  if (!st) return no_table(id);
  if (names.size() != st->data->schema().columns.size())
    return fail(errc::invalid_argument, "table `" + st->data->schema().name + "` has " +
                                          std::to_string(st->data->schema().columns.size()) + " columns, not " +
                                          std::to_string(names.size()));
  st->data->rename_columns(names);
  write_batch batch;
  batch.put(keys::table_schema(id_, id), encode_schema(st->data->schema()));
  submit(std::move(batch), std::move(on_durable));
  return done{};
}

namespace {

// What makes `schema` unfit for a table: no columns, an index or an
// auto-increment naming a column it lacks, an auto-increment on a non-integer.
std::optional<failure> shape_problem(const table_schema& schema) {
  auto problem = [&](const std::string& what) { return fail(errc::invalid_argument, "table `" + schema.name + "`: " + what); };
  if (schema.columns.empty()) return problem("it has no columns");
  for (auto& ix : schema.indexes)
    for (auto c : ix.columns)
      if (c >= schema.columns.size()) return problem("index `" + ix.name + "` names column " + std::to_string(c));
  for (auto& q : schema.sequences)
    if (q.column >= schema.columns.size() || !schema.columns[q.column].type.is_integer() ||
        !schema.columns[q.column].type.fixed_size())
      return problem("auto_inc needs an integer column");
  return std::nullopt;
}

// The integer of `width` bytes at `p` (little-endian), as far as i128 goes.
i128 read_int(const char* p, std::size_t width, bool is_signed) {
  u128 v = 0;
  for (std::size_t i = std::min<std::size_t>(width, 16); i-- > 0;) v = v << 8 | std::uint8_t(p[i]);
  if (is_signed && width < 16 && (std::uint8_t(p[width - 1]) & 0x80)) v |= ~u128(0) << (8 * width);
  if (!is_signed && width >= 16 && (v >> 127)) return i128(~u128(0) >> 1);
  return i128(v);
}

} // namespace

result<done> datastore::migrate(const schema_change& change, write_batch extra, std::function<void()> on_durable) {
  if (in_tx_) return fail(errc::invalid_argument, "cannot change tables inside a transaction");
  // Build every altered table first: nothing changes until all of them are whole.
  std::vector<std::pair<table_state*, std::unique_ptr<table_state>>> altered;
  index_id next_index = next_index_id_;
  for (table_schema schema : change.alter) {
    table_state* old = state_of(schema.id);
    if (!old) return no_table(schema.id);
    const table_schema& was = old->data->schema();
    if (schema.columns.size() < was.columns.size())
      return fail(errc::invalid_argument, "table `" + was.name + "` cannot lose columns");
    for (std::size_t c = 0; c < was.columns.size(); ++c)
      if (schema.columns[c].type != was.columns[c].type)
        return fail(errc::invalid_argument, "column `" + was.columns[c].name + "` of table `" + was.name +
                                              "` cannot change its type: its stored rows would not read");
    if (auto problem = shape_problem(schema)) return *problem;
    std::string appended;  // the new columns' values, the same for every stored row
    for (std::size_t c = was.columns.size(); c < schema.columns.size(); ++c) {
      const auto& column = schema.columns[c];
      if (!column.default_bsatn || validate(column.type, *column.default_bsatn))
        return fail(errc::invalid_argument, "column `" + column.name + "` added to table `" + was.name +
                                              "` has no default value of its type for the stored rows");
      appended += *column.default_bsatn;
    }
    for (auto& ix : schema.indexes) {
      const index_schema* same = was.index_named(ix.name);
      ix.id = same ? same->id : next_index++;
    }
    auto next = std::make_unique<table_state>();
    next->data = std::make_unique<table>(schema);
    next->changed_since_checkpoint = true;
    std::optional<failure> problem;
    std::string row;
    old->data->scan([&](row_id r) {
      if (problem) return;
      row.assign(old->data->row(r));
      row += appended;
      if (auto c = next->data->find_conflict(row)) {
        if (c->index)
          problem = fail(errc::unique_already_exists, "rows of table `" + was.name + "` share a value of unique index `" +
                                                        c->index->schema().name + "`");
        return;
      }
      next->data->insert(row);
    });
    if (problem) return *problem;
    // Auto-increments: kept ones go on where they were; new ones start past the stored values.
    std::vector<std::uint32_t> offsets;
    for (auto& q : schema.sequences) {
      auto kept = std::find_if(old->sequences.begin(), old->sequences.end(),
                               [&](auto& s) { return s.schema.column == q.column; });
      if (kept != old->sequences.end()) {  // its settings as declared now, its values where they were
        sequence_state s = *kept;
        s.schema = q;
        s.max = q.max_value != 0 ? q.max_value : type_max(schema.columns[q.column].type);
        next->sequences.push_back(s);
        continue;
      }
      const auto& type = schema.columns[q.column].type;
      sequence_state s;
      s.schema = q;
      s.width = *type.fixed_size();
      s.max = q.max_value != 0 ? q.max_value : type_max(type);
      i128 highest = q.start - 1;
      next->data->scan([&](row_id r) {
        std::string_view bytes = next->data->row(r);
        next->data->column_offsets(bytes, offsets);
        highest = std::max(highest, read_int(bytes.data() + offsets[q.column], s.width, type.is_signed()));
      });
      s.next = s.reserved_until = s.persisted_until = highest + 1;
      next->sequences.push_back(s);
    }
    altered.emplace_back(old, std::move(next));
  }
  for (auto& schema : change.create) {
    if (auto problem = shape_problem(schema)) return *problem;
  }
  for (auto& schema : change.create)
    if (const table* t = find_table(schema.name);
        t && std::find(change.drop.begin(), change.drop.end(), t->schema().id) == change.drop.end())
      return fail(errc::invalid_argument, "table `" + schema.name + "` exists already");

  // Apply, and write it all in one batch.
  write_batch batch = std::move(extra);
  next_index_id_ = next_index;
  for (table_id id : change.drop) {
    auto it = std::find_if(tables_.begin(), tables_.end(), [&](auto& st) { return st->data->schema().id == id; });
    if (it != tables_.end()) tables_.erase(it);
  }
  for (auto& [old, next] : altered) {
    for (auto& s : old->sequences)
      if (std::none_of(next->sequences.begin(), next->sequences.end(),
                       [&](auto& kept) { return kept.schema.column == s.schema.column; }))
        batch.erase(keys::sequence(id_, old->data->schema().id, s.schema.column));
    for (auto& s : next->sequences)
      batch.put(keys::sequence(id_, next->data->schema().id, s.schema.column),
                std::string(reinterpret_cast<const char*>(&s.persisted_until), sizeof(i128)));
    *old = std::move(*next);
    batch.put(keys::table_schema(id_, old->data->schema().id), encode_schema(old->data->schema()));
  }
  checkpoint(batch);  // the altered tables whole, and no logged row in an old layout
  for (table_id id : change.drop) {
    batch.erase(keys::table_schema(id_, id));
    table_snapshot::erase(batch, id_, id);
    batch.erase_prefix(keys::table_sequences(id_, id));
  }
  for (table_schema schema : change.create) {
    schema.id = next_table_id_++;
    for (auto& ix : schema.indexes) ix.id = next_index_id_++;
    auto st = std::make_unique<table_state>();
    for (auto& q : schema.sequences) {
      sequence_state s;
      s.schema = q;
      auto& type = schema.columns.at(q.column).type;
      s.width = *type.fixed_size();
      s.max = q.max_value != 0 ? q.max_value : type_max(type);
      s.next = s.reserved_until = s.persisted_until = q.start;
      st->sequences.push_back(s);
    }
    batch.put(keys::table_schema(id_, schema.id), encode_schema(schema));
    st->data = std::make_unique<table>(std::move(schema));
    tables_.push_back(std::move(st));
  }
  submit(std::move(batch), std::move(on_durable));
  return done{};
}

datastore::table_state* datastore::state_of(table_id id) {
  for (auto& st : tables_)
    if (st->data->schema().id == id) return st.get();
  return nullptr;
}

const table* datastore::find_table(table_id id) const {
  for (auto& st : tables_)
    if (st->data->schema().id == id) return st->data.get();
  return nullptr;
}

const table* datastore::find_table(std::string_view name) const {
  for (auto& st : tables_)
    if (st->data->schema().name == name) return st->data.get();
  return nullptr;
}

std::vector<const table*> datastore::tables() const {
  std::vector<const table*> out;
  for (auto& st : tables_) out.push_back(st->data.get());
  return out;
}

std::size_t datastore::memory_bytes() const {
  std::size_t bytes = 0;
  for (const table* t : tables()) bytes += t->memory_bytes();
  return bytes;
}

std::pair<const table*, const table_index*> datastore::find_index(index_id id) const {
  for (auto& st : tables_)
    if (auto ix = st->data->index(id)) return {st->data.get(), ix};
  return {nullptr, nullptr};
}

transaction datastore::begin() {
  in_tx_ = true;
  return transaction(*this);
}

// ---- transaction ----

transaction::transaction(transaction&& other) noexcept : ds_(other.ds_) { other.ds_ = nullptr; }

transaction::~transaction() { rollback(); }

result<std::string> transaction::insert(table_id id, std::string_view bytes) {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  auto* st = ds_->state_of(id);
  if (!st) return no_table(id);
  table& t = *st->data;
  if (auto problem = validate(t.row_type(), bytes))
    return fail(errc::bsatn_decode, "bad row for table `" + t.schema().name + "`: " + *problem);
  // Only rows with auto-increment columns need a copy to write values into.
  std::string_view row = bytes;
  std::string patched, generated;
  if (!st->sequences.empty()) {
    patched.assign(bytes);
    row = patched;
    thread_local std::vector<std::uint32_t> offsets;
    t.column_offsets(patched, offsets);  // valid bytes: cannot throw
    for (auto& s : st->sequences) {
      char* p = patched.data() + offsets[s.schema.column];
      if (!all_zero(p, s.width)) continue;
      if (s.next > s.max)
        return fail(errc::auto_inc_overflow, "sequence of `" + t.schema().name + "." +
                                               t.schema().columns[s.schema.column].name + "` is exhausted");
      i128 v = s.next;
      s.next += s.schema.increment;
      if (s.next > s.reserved_until) s.reserved_until = v + s.schema.increment * sequence_block;
      write_int(p, s.width, v);
      generated.append(p, s.width);
    }
  }
  if (auto c = t.find_conflict(row)) {
    if (!c->index) return generated;  // identical row: tables are sets
    return fail(errc::unique_already_exists, "duplicate value in unique index `" + c->index->schema().name +
                                               "` of table `" + t.schema().name + "`");
  }
  row_id r = t.insert(row);
  ds_->undo_.push_back({st, r, true});
  ds_->inserted_here_.insert(datastore::row_tag(id, r));
  return generated;
}

void transaction::erase(datastore::table_state& st, row_id r) {
  st.data->unlink(r);
  ds_->undo_.push_back({&st, r, false});
}

result<std::string> transaction::update(table_id id, index_id index, std::string_view bytes) {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  auto* st = ds_->state_of(id);
  if (!st) return no_table(id);
  const table_index* ix = st->data->index(index);
  if (!ix) return no_index(index);
  if (!ix->schema().unique)
    return fail(errc::index_not_unique, "index `" + ix->schema().name + "` is not unique");
  std::string key;
  try {
    ix->key_of_row(bytes, key);  // the insert below checks the whole row
  } catch (const bsatn_error& e) {
    return fail(errc::bsatn_decode, e.what());
  }
  auto old = ix->find_unique(key);
  if (!old) return fail(errc::no_such_row, "no row of `" + st->data->schema().name + "` matches in `" +
                                             ix->schema().name + "`");
  erase(*st, *old);
  auto inserted = insert(id, bytes);
  if (!inserted) {
    // Put the old row back; the failed insert changed nothing.
    ds_->undo_.pop_back();
    st->data->relink(*old);
  }
  return inserted;
}

template <class Visit>
result<done> transaction::visit_point(index_id index, std::string_view key_bsatn, Visit&& visit) const {
  auto [t, ix] = ds_->find_index(index);
  if (!ix) return no_index(index);
  thread_local std::string key;
  key.clear();
  try {
    bsatn_reader in(key_bsatn);
    ix->key_of_values(in, ix->schema().columns.size(), key);
    if (in.remaining() != 0) return fail(errc::bsatn_decode, "extra bytes after the index key");
  } catch (const bsatn_error& e) {
    return fail(errc::bsatn_decode, std::string("bad index key: ") + e.what());
  }
  if (ix->schema().unique) {  // at most one row
    if (auto r = ix->find_unique(key)) visit(*t, *r);
  } else {
    ix->visit_prefix(key, [&, owner = t](row_id r) { visit(*owner, r); });
  }
  return done{};
}

result<std::vector<row_id>> transaction::rows_in_range(index_id index, const range_scan& range,
                                                       const table** owner) const {
  auto [t, ix] = ds_->find_index(index);
  if (!ix) return no_index(index);
  *owner = t;
  if (!ix->ordered())
    return fail(errc::wrong_index_algorithm, "index `" + ix->schema().name + "` is a hash index: no range scans");
  if (range.prefix_columns >= ix->schema().columns.size())
    return fail(errc::bsatn_decode, "range prefix of " + std::to_string(range.prefix_columns) +
                                      " columns leaves no column to range over in `" + ix->schema().name + "`");
  key_range kr;
  try {
    std::string prefix;
    bsatn_reader in(range.prefix);
    ix->key_of_values(in, range.prefix_columns, prefix);
    if (in.remaining() != 0) return fail(errc::bsatn_decode, "extra bytes after the range prefix");
    const algebraic_type& column = ix->column_type(range.prefix_columns);
    auto encode = [&](std::string_view v) {
      std::string k = prefix;
      bsatn_reader r(v);
      append_key(k, column, r);
      if (r.remaining() != 0) throw bsatn_error("extra bytes after a range bound");
      return k;
    };
    switch (range.start.type) {
      case bound::kind::included: kr.lower = encode(range.start.value); break;
      case bound::kind::excluded: kr.lower = key_prefix_end(encode(range.start.value)); break;
      case bound::kind::unbounded: kr.lower = prefix; break;
    }
    std::string upper;
    switch (range.end.type) {
      case bound::kind::included: upper = key_prefix_end(encode(range.end.value)); break;
      case bound::kind::excluded: upper = encode(range.end.value); break;
      case bound::kind::unbounded: upper = key_prefix_end(prefix); break;
    }
    if (!upper.empty()) kr.upper = upper;
  } catch (const bsatn_error& e) {
    return fail(errc::bsatn_decode, std::string("bad range: ") + e.what());
  }
  std::vector<row_id> rows;
  ix->visit_range(kr, [&](row_id r) { rows.push_back(r); });
  return rows;
}

result<std::uint32_t> transaction::delete_point(index_id index, std::string_view key) {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  const table* owner = nullptr;
  std::vector<row_id> rows;
  auto visited = visit_point(index, key, [&](const table& t, row_id r) {
    owner = &t;
    rows.push_back(r);
  });
  if (!visited) return visited.error();
  if (owner) {
    auto* st = ds_->state_of(owner->schema().id);
    for (row_id r : rows) erase(*st, r);
  }
  return std::uint32_t(rows.size());
}

result<std::uint32_t> transaction::delete_range(index_id index, const range_scan& range) {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  const table* t = nullptr;
  auto rows = rows_in_range(index, range, &t);
  if (!rows) return rows.error();
  auto* st = ds_->state_of(t->schema().id);
  for (row_id r : *rows) erase(*st, r);
  return std::uint32_t(rows->size());
}

result<bool> transaction::delete_row(table_id id, std::string_view row) {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  auto* st = ds_->state_of(id);
  if (!st) return no_table(id);
  if (auto problem = validate(st->data->row_type(), row))
    return fail(errc::bsatn_decode, "bad row for table `" + st->data->schema().name + "`: " + *problem);
  auto c = st->data->find_conflict(row);
  if (!c || c->index) return false;
  erase(*st, c->existing);
  return true;
}

result<std::uint32_t> transaction::clear(table_id id) {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  auto* st = ds_->state_of(id);
  if (!st) return no_table(id);
  std::vector<row_id> rows;
  st->data->scan([&](row_id r) { rows.push_back(r); });
  for (row_id r : rows) erase(*st, r);
  return std::uint32_t(rows.size());
}

result<std::vector<std::string_view>> transaction::scan(table_id id) const {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  const table* t = ds_->find_table(id);
  if (!t) return no_table(id);
  std::vector<std::string_view> rows;
  rows.reserve(t->row_count());
  t->scan([&](row_id r) { rows.push_back(t->row(r)); });
  return rows;
}

result<std::vector<std::string_view>> transaction::scan_point(index_id index, std::string_view key) const {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  std::vector<std::string_view> out;
  auto visited = visit_point(index, key, [&](const table& t, row_id r) { out.push_back(t.row(r)); });
  if (!visited) return visited.error();
  return out;
}

result<std::vector<std::string_view>> transaction::scan_range(index_id index, const range_scan& range) const {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  const table* t = nullptr;
  auto rows = rows_in_range(index, range, &t);
  if (!rows) return rows.error();
  std::vector<std::string_view> out;
  for (row_id r : *rows) out.push_back(t->row(r));
  return out;
}

result<std::uint64_t> transaction::row_count(table_id id) const {
  if (!ds_ || !ds_->in_tx_) return not_in_tx();
  const table* t = ds_->find_table(id);
  if (!t) return no_table(id);
  return std::uint64_t(t->row_count());
}

commit_result transaction::commit(std::function<void()> on_durable) {
  commit_result out;
  if (!ds_ || !ds_->in_tx_) return out;
  auto& undo = ds_->undo_;
  auto update_of = [&](datastore::table_state* st) -> table_update& {
    table_id id = st->data->schema().id;
    for (auto& u : out.updates)
      if (u.table == id) return u;
    out.updates.push_back({id, st->data->schema().name, {}, {}});
    return out.updates.back();
  };
  for (auto& e : undo) {
    const table& t = *e.table->data;
    if (e.inserted) {
      if (t.live(e.row)) update_of(e.table).inserts.emplace_back(t.row(e.row));
    } else if (!ds_->inserted_here_.count(datastore::row_tag(t.schema().id, e.row))) {
      update_of(e.table).deletes.emplace_back(t.row(e.row));
    }
  }

  for (auto& e : undo) {
    table& t = *e.table->data;
    if (!t.schema().is_event) {
      if (!e.inserted) t.release(e.row);
    } else if (e.inserted) {
      // An event table's rows live only inside their transaction: the update
      // above carries them to subscribers, and the table is empty again.
      if (t.live(e.row)) t.unlink(e.row);
      t.release(e.row);
    }
  }
  undo.clear();
  ds_->forget_inserted();
  ds_->in_tx_ = false;
  datastore* ds = std::exchange(ds_, nullptr);  // this transaction is over
  if (!ds->db_) {
    if (on_durable) on_durable();
    return out;
  }
  write_batch batch;
  {
    std::size_t changed_snapshots = 0;
    for (auto& u : out.updates) {
      auto* st = ds->state_of(u.table);
      if (st->data->schema().is_event) continue;  // nothing of it is kept
      st->changed_since_checkpoint = true;
      for (auto& row : u.deletes) ds->log_->add(u.table, commit_log::change::deleted, row);
      for (auto& row : u.inserts) ds->log_->add(u.table, commit_log::change::inserted, row);
    }
    ds->log_->append_record(batch);
    for (auto& st : ds->tables_)
      if (st->changed_since_checkpoint) changed_snapshots += st->snapshot_bytes;
    // Rewriting a table costs its size: wait for as many bytes of log.
    if (ds->log_->logged_bytes() >= std::max(ds->checkpoint_bytes_, changed_snapshots)) ds->checkpoint(batch);
    for (auto& st : ds->tables_)
      for (auto& s : st->sequences)
        if (s.reserved_until > s.persisted_until) {
          batch.put(keys::sequence(ds->id_, st->data->schema().id, s.schema.column),
                    std::string_view(reinterpret_cast<const char*>(&s.reserved_until), sizeof(i128)));
          s.persisted_until = s.reserved_until;
        }
  }
  ds->submit(std::move(batch), std::move(on_durable));
  return out;
}

void transaction::rollback() {
  if (!ds_ || !ds_->in_tx_) return;
  auto& undo = ds_->undo_;
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    table& t = *it->table->data;
    if (it->inserted) {
      if (t.live(it->row)) t.unlink(it->row);
      t.release(it->row);
    } else {
      t.relink(it->row);
    }
  }
  undo.clear();
  ds_->forget_inserted();
  ds_->in_tx_ = false;
  ds_ = nullptr;
}

} // namespace orrery
