#pragma once
// The layout of the host store's keys: every key the host reads or writes is
// built here and nowhere else. Keys are kept byte for byte as earlier versions
// wrote them, so a store written before still loads; a change here is a change
// of the on-disk format.
//
// <id> is a database id and <sequence> a log line's or commit record's number, all 8 bytes
// big-endian (append_u64), so keys sort numerically. <table> is a table id,
// 4 bytes big-endian.
//
//   r/next_id                   the next database id to hand out (8 bytes big-endian)
//   r/db/<id>                   a database's registry record (JSON)
//   r/access                    who holds which role: grants, projects, teams
//                               (JSON, actors/access_book.hpp)
//   r/due/<id>                  when a sleeping database's next schedule is due
//                               (µs since the epoch, 8 bytes big-endian)
//   p/<hash>                    a module bundle, stored once per content hash
//                               (64 hex digits of its BLAKE3 hash)
//   p/<hash>/image              what starting that module again needs besides
//                               its bundle: its definition and V8 code cache
//                               (modules/module_image.hpp)
//   l/<id><sequence>            a database's log lines, oldest first (JSON)
//   d/<id>                      everything below belongs to one database:
//   d/<id>/t/<table>            a table's schema (encode_schema)
//   d/<id>/r/<table><row key>   a row (msgpack, row_codec), keyed by its primary
//                               key, else by the whole row (table::storage_key),
//                               as earlier versions stored rows: read, and erased
//                               by the table's first snapshot
//   d/<id>/s/<table><chunk>     a table's rows as of the last checkpoint, msgpack
//                               rows packed in chunks; <chunk> is 4 bytes big-endian
//                               (runtime/storage/table_snapshot.hpp)
//   d/<id>/c/<sequence>         a commit's row changes since the last checkpoint
//                               (runtime/storage/commit_log.hpp)
//   d/<id>/q/<table><column>    how far a sequence is reserved (an i128); <column>
//                               is the column's index, 2 bytes in the host's byte
//                               order (little-endian on x86-64)
//   d/<id>/v/row_limit          the SQL row limit set with SET (8 bytes big-endian)
//   d/<id>/v/sleeping_schedules the due times of a sleeping database's armed
//                               schedules (written as it falls asleep, erased
//                               as it wakes)
//
// Pure functions; callable from any thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace orrery::keys {

/// The next database id to hand out.
inline constexpr std::string_view next_database_id = "r/next_id";
/// Prefix of every registry record.
inline constexpr std::string_view records = "r/db/";
/// The access book: grants, projects and teams.
inline constexpr std::string_view access_book = "r/access";
/// Prefix of every sleeping database's next due time.
inline constexpr std::string_view due_times = "r/due/";

/// Database `id`'s registry record.
std::string record(std::uint64_t id);
/// When sleeping database `id`'s next schedule is due.
std::string due_time(std::uint64_t id);
/// The module bundle whose content hash is `hash` (hex).
std::string program(std::string_view hash);
/// The stored image (definition and code cache) of that module.
std::string program_image(std::string_view hash);

/// Prefix of database `id`'s log lines.
std::string log(std::uint64_t id);
/// Line `sequence` of database `id`'s log.
std::string log_line(std::uint64_t id, std::uint64_t sequence);

/// Prefix of everything database `id` keeps: erasing it erases the database's data.
std::string database(std::uint64_t id);
/// Prefix of the schemas of database `id`'s tables.
std::string table_schemas(std::uint64_t id);
/// The schema of table `table` of database `id`.
std::string table_schema(std::uint64_t id, std::uint32_t table);
/// Prefix of the rows of table `table`; a row's key is this followed by its
/// table's storage key for it.
std::string table_rows(std::uint64_t id, std::uint32_t table);
/// Prefix of the snapshot chunks of table `table`.
std::string table_snapshot(std::uint64_t id, std::uint32_t table);
/// Chunk `chunk` of that snapshot.
std::string table_snapshot_chunk(std::uint64_t id, std::uint32_t table, std::uint32_t chunk);
/// Prefix of database `id`'s commit records.
std::string commit_log(std::uint64_t id);
/// Commit record `sequence` of database `id`.
std::string commit_record(std::uint64_t id, std::uint64_t sequence);
/// Prefix of the sequence reservations of table `table`.
std::string table_sequences(std::uint64_t id, std::uint32_t table);
/// How far the sequence on column `column` of table `table` is reserved.
std::string sequence(std::uint64_t id, std::uint32_t table, std::uint16_t column);
/// Database `id`'s SQL row limit.
std::string row_limit(std::uint64_t id);
/// The due times of sleeping database `id`'s armed schedules.
std::string sleeping_schedules(std::uint64_t id);
/// The hash of the module database `id`'s tables were last migrated to,
/// written with the migration: after a crash, the registry takes it over its
/// record's.
std::string running_module(std::uint64_t id);

} // namespace orrery::keys
