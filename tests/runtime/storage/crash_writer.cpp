// Child process for the crash test: commits transactions of three rows each
// into a durable datastore, with frequent commit log checkpoints, printing "durable N" once transaction N is on
// disk, until it is killed. Exits non-zero on any datastore error.

#include "runtime/storage/committer.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

using namespace orrery;

table_schema ledger_schema() {
  table_schema s;
  s.name = "ledger";
  s.columns = {{"seq", algebraic_type::primitive(type_kind::u64), {}},
               {"tx", algebraic_type::primitive(type_kind::u64), {}},
               {"part", algebraic_type::primitive(type_kind::u8), {}}};
  s.primary_key = 0;
  s.indexes = {{0, "ledger_seq_idx_btree", index_algorithm::btree, {0}, true},
               {0, "ledger_tx_idx_btree", index_algorithm::btree, {1}, false}};
  s.sequences = {{0}};
  return s;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  std::string error;
  auto db = store::open(argv[1], error);
  if (!db) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  committer durability(*db);
  // Checkpoints often: kills land mid-log and mid-checkpoint.
  auto opened = datastore::open(db.get(), &durability, 1, 4096);
  if (!opened) {
    std::fprintf(stderr, "error: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& ds = **opened;
  if (!ds.find_table("ledger")) {
    auto created = ds.create_table(ledger_schema());
    if (!created) return 1;
    durability.flush();
  }
  const table* ledger = ds.find_table("ledger");
  std::uint64_t next_tx = 0;
  ledger->scan([&](row_id r) {
    bsatn_reader in(ledger->row(r));
    in.fixed<std::uint64_t>();
    next_tx = std::max(next_tx, in.fixed<std::uint64_t>() + 1);
  });
  for (std::uint64_t tx_number = next_tx;; ++tx_number) {
    auto tx = ds.begin();
    for (std::uint8_t part = 0; part < 3; ++part) {
      auto inserted = tx.insert(ledger->schema().id, encode_value(product_value{{std::uint64_t(0), tx_number, part}}));
      if (!inserted) {
        std::fprintf(stderr, "error: %s\n", inserted.error().message.c_str());
        return 1;
      }
    }
    tx.commit([tx_number] {
      char line[64];
      int n = std::snprintf(line, sizeof line, "durable %llu\n", static_cast<unsigned long long>(tx_number));
      if (::write(1, line, std::size_t(n)) < 0) _exit(3);
    });
    if (tx_number % 64 == 0) usleep(200);  // let some commits finish between kills
  }
}
