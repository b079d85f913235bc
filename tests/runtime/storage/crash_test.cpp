// Kills a writer process with SIGKILL at random moments, many times; after
// each kill, every transaction it reported durable must be present and no
// transaction may be present in part.

#include "runtime/storage/committer.hpp"
#include "runtime/storage/datastore.hpp"
#include "runtime/storage/store.hpp"
#include "runtime/types/bsatn.hpp"
#include "runtime/types/identity.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

using namespace orrery;

namespace {
std::string writer_path() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "orrery_crash_writer").string();
}

// Runs the writer for `ms`, kills it, returns the highest transaction it called durable (-1: none).
long run_and_kill(const std::string& dir, int ms, std::string& errors) {
  int out[2], err[2];
  REQUIRE(pipe(out) == 0);
  REQUIRE(pipe(err) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]);
    close(err[0]);
    std::string path = writer_path();
    execl(path.c_str(), path.c_str(), dir.c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, std::size_t(n));
  for (ssize_t n; (n = read(err[0], buf, sizeof buf)) > 0;) errors.append(buf, std::size_t(n));
  close(out[0]);
  close(err[0]);
  if (!WIFSIGNALED(status)) errors += "writer exited by itself with status " + std::to_string(status);
  long highest = -1;
  std::size_t pos = 0;
  while ((pos = text.find("durable ", pos)) != std::string::npos) {
    pos += 8;
    highest = std::max(highest, std::stol(text.substr(pos)));
  }
  return highest;
}
} // namespace

TEST_CASE("transactions reported durable survive SIGKILL, whole", "[runtime][crash]") {
  auto dir = std::filesystem::temp_directory_path() / ("orrery-crash-" + random_uuid());
  std::mt19937 rng(1234);
  long reported = -1;
  std::uint64_t highest_seq = 0;
  for (int round = 0; round < 25; ++round) {
    std::string errors;
    reported = std::max(reported, run_and_kill(dir.string(), 30 + int(rng() % 150), errors));
    INFO("round " << round);
    REQUIRE(errors.empty());

    std::string error;
    auto db = store::open(dir.string(), error);
    REQUIRE(db);
    committer durability(*db);
    auto ds = datastore::open(db.get(), &durability, 1);
    REQUIRE(ds.ok());
    const table* ledger = (*ds)->find_table("ledger");
    if (!ledger) continue;  // killed before the table was created
    std::map<std::uint64_t, int> parts;
    std::uint64_t max_seq = 0;
    ledger->scan([&](row_id r) {
      bsatn_reader in(ledger->row(r));
      max_seq = std::max(max_seq, in.fixed<std::uint64_t>());
      ++parts[in.fixed<std::uint64_t>()];
    });
    for (auto& [tx, count] : parts) REQUIRE(count == 3);  // all or nothing
    for (long tx = 0; tx <= reported; ++tx) REQUIRE(parts.count(std::uint64_t(tx)) == 1);
    // Sequence values only grow across crashes.
    REQUIRE(max_seq >= highest_seq);
    highest_seq = max_seq;
  }
  CHECK(reported > 0);
  std::filesystem::remove_all(dir);
}
