// What one authorization decision costs (access_book::role_of), on a host
// with many databases, projects, teams and grants: every HTTP route, SQL
// statement and WebSocket connection makes one.

#include "actors/access_book.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace orrery;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

identity person(int n) { return identity::from_claims("bench", "person-" + std::to_string(n)); }

} // namespace

int main() {
  constexpr int databases = 10000, projects = 1000, teams = 1000, members = 10, grants_per_project = 10;
  std::map<std::uint64_t, database_record> records;
  for (int i = 1; i <= databases; ++i) {
    database_record r;
    r.id = std::uint64_t(i);
    r.owner = person(0);
    r.names = {"db-" + std::to_string(i)};
    r.database_identity = identity::from_claims("bench", r.names[0]);
    records[r.id] = r;
  }
  access_book book;
  auto find = [&](const std::string& name) -> const database_record* {
    return &records.at(std::stoull(name.substr(3)));
  };
  auto apply = [&](access_request req) {
    access_outcome out;
    if (auto err = book.apply(req, find, records, out)) {
      std::fprintf(stderr, "setup failed: %s\n", error_message(err).c_str());
      std::exit(1);
    }
  };
  const identity owner = person(0);
  for (int t = 0; t < teams; ++t) {
    apply({owner, "team", "create", "team-" + std::to_string(t), "", ""});
    for (int m = 0; m < members; ++m)
      apply({owner, "team", "add", "team-" + std::to_string(t), person(1 + t * members + m).to_hex(), ""});
  }
  for (int p = 0; p < projects; ++p) {
    std::string name = "project-" + std::to_string(p);
    apply({owner, "project", "create", name, "", ""});
    for (int d = 0; d < databases / projects; ++d)
      apply({owner, "project", "add", name, "db-" + std::to_string(1 + p * (databases / projects) + d), ""});
    for (int g = 0; g < grants_per_project; ++g)
      apply({owner, "project", "grant", name, "team:team-" + std::to_string((p * grants_per_project + g) % teams),
             "viewer"});
  }
  for (int d = 1; d <= databases; ++d)
    apply({owner, "database", "grant", "db-" + std::to_string(d), person(d).to_hex(), "developer"});

  constexpr int checks = 200000;
  int granted = 0;
  // The callers are made first, so only the decisions are timed.
  std::vector<std::pair<identity, const database_record*>> asks;
  for (std::uint64_t i = 0; i < checks; ++i)
    asks.emplace_back(person(int(1 + (i * 104729) % (teams * members))), &records.at(1 + (i * 7919) % databases));
  auto started = std::chrono::steady_clock::now();
  for (auto& [caller, r] : asks) granted += book.role_of(caller, *r) != role::none;
  double micros = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
  std::printf("access role_of (CPU: %s): %.2f us per decision over %d checks; %d databases, %d projects, %d teams "
              "of %d, %d grants per project and 1 per database; %d of the callers held a role\n",
              cpu_model().c_str(), micros / checks, checks, databases, projects, teams, members, grants_per_project,
              granted);
}
