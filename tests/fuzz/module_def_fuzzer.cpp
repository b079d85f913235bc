// Module definitions: the RawModuleDef bytes a module's __describe_module__
// returns, which a module author controls entirely.
//
// Properties: decoding fails cleanly or gives a definition whose JSON form
// (describe, code generators) reads back to the same tables and reducers as
// far as that form carries them (it leaves out schedules and sequence
// settings, which code generators do not read), whose reducers are
// found by name and id, whose table schemas survive the store's encoding, and
// whose tables an empty database creates as publishing does.

#include "tests/fuzz/fuzz.hpp"

#include "modules/module_def.hpp"
#include "runtime/storage/datastore.hpp"

using namespace orrery;

namespace {

// What module_def_json carries for client code generators.
bool same_for_clients(const module_def& a, const module_def& b) {
  if (a.tables.size() != b.tables.size() || a.reducers.size() != b.reducers.size()) return false;
  for (std::size_t i = 0; i < a.tables.size(); ++i) {
    const table_schema &x = a.tables[i], &y = b.tables[i];
    if (x.name != y.name || x.primary_key != y.primary_key || x.is_public != y.is_public ||
        x.columns.size() != y.columns.size() || x.indexes.size() != y.indexes.size() ||
        x.sequences.size() != y.sequences.size())
      return false;
    for (std::size_t c = 0; c < x.columns.size(); ++c)
      if (x.columns[c].name != y.columns[c].name || x.columns[c].type != y.columns[c].type) return false;
    for (std::size_t k = 0; k < x.indexes.size(); ++k)
      if (x.indexes[k].name != y.indexes[k].name || x.indexes[k].algorithm != y.indexes[k].algorithm ||
          x.indexes[k].columns != y.indexes[k].columns || x.indexes[k].unique != y.indexes[k].unique)
        return false;
    for (std::size_t k = 0; k < x.sequences.size(); ++k)
      if (x.sequences[k].column != y.sequences[k].column) return false;
  }
  for (std::size_t i = 0; i < a.reducers.size(); ++i) {
    const reducer_def &x = a.reducers[i], &y = b.reducers[i];
    if (x.name != y.name || x.params != y.params || x.kind != y.kind) return false;
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto def = decode_module_def(fuzz::as_text(data, size));
  if (!def) return 0;

  std::string json = module_def_json(*def);
  auto back = module_def_from_json(json);
  ORRERY_FUZZ_CHECK(back.ok(), "module_def_from_json refused what module_def_json wrote");
  ORRERY_FUZZ_CHECK(same_for_clients(*def, *back), "a module definition changed through its JSON form");
  ORRERY_FUZZ_CHECK(module_def_json(*back) == module_def_json(*module_def_from_json(module_def_json(*back))),
                    "the JSON form of a module definition read back from JSON is not stable");

  for (std::size_t i = 0; i < def->reducers.size(); ++i) {
    const reducer_def& r = def->reducers[i];
    auto by_name = def->reducer_id(r.name);
    ORRERY_FUZZ_CHECK(by_name && *by_name < def->reducers.size() &&
                        (def->reducers[*by_name].name == r.name || def->reducers[*by_name].source_name == r.name),
                      "a reducer is not found by its name");
    // By id, unless a reducer is named like one.
    std::string id = std::to_string(i);
    if (!def->reducer(id))
      ORRERY_FUZZ_CHECK(def->reducer_id(id) == std::optional<std::uint32_t>(std::uint32_t(i)),
                        "a reducer is not found by its id");
  }
  (void)def->lifecycle_reducer(lifecycle::init);

  for (const table_schema& schema : def->tables) {
    std::string stored = encode_schema(schema);
    auto reread = decode_schema(stored);
    ORRERY_FUZZ_CHECK(reread.ok(), "decode_schema refused what encode_schema wrote");
    ORRERY_FUZZ_CHECK(encode_schema(*reread) == stored, "a table schema changed through the store's encoding");
  }

  // As publishing does (database_actor's ensure_tables), into a scratch database.
  auto ds = datastore::open(nullptr, nullptr, 1);
  ORRERY_FUZZ_CHECK(ds.ok(), "an in-memory datastore did not open");
  for (const table_schema& schema : def->tables)
    if (!(*ds)->create_table(schema)) break;
  return 0;
}
