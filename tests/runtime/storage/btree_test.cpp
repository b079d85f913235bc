#include "runtime/storage/btree.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>

using namespace orrery;

namespace {
index_key key_of(std::uint32_t x, int extra = 0) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char(x >> shift));
  s.append(std::size_t(extra), 'k');  // long keys exercise the heap storage
  return index_key(s);
}
} // namespace

TEST_CASE("btree matches std::map under random inserts and erases", "[runtime]") {
  for (int extra : {0, 30}) {
    btree tree;
    std::map<std::string, row_id> model;
    std::mt19937 rng(42 + extra);
    for (int step = 0; step < 60000; ++step) {
      std::uint32_t k = rng() % 5000;
      index_key key = key_of(k, extra);
      if (rng() % 3) {
        bool fresh = model.emplace(std::string(key.view()), k).second;
        CHECK(tree.insert(key, k) == fresh);
      } else {
        CHECK(tree.erase(key) == (model.erase(std::string(key.view())) == 1));
      }
      if (step % 5000 == 0) {
        auto it = model.begin();
        for (auto c = tree.begin(); c.valid(); c.next(), ++it) {
          REQUIRE(it != model.end());
          REQUIRE(c.key().view() == it->first);
        }
        CHECK(it == model.end());
      }
    }
    CHECK(tree.size() == model.size());
    for (std::uint32_t k = 0; k < 5000; k += 7) {
      auto found = tree.find(key_of(k, extra));
      CHECK(found.has_value() == (model.count(std::string(key_of(k, extra).view())) == 1));
      auto lb = tree.lower_bound(key_of(k, extra));
      auto mlb = model.lower_bound(std::string(key_of(k, extra).view()));
      REQUIRE(lb.valid() == (mlb != model.end()));
      if (lb.valid()) CHECK(lb.key().view() == mlb->first);
    }
  }
}

TEST_CASE("btree empties completely and refills", "[runtime]") {
  btree tree;
  for (std::uint32_t i = 0; i < 10000; ++i) REQUIRE(tree.insert(key_of(i), i));
  for (std::uint32_t i = 0; i < 10000; ++i) REQUIRE(tree.erase(key_of(i)));
  CHECK(tree.size() == 0);
  CHECK_FALSE(tree.begin().valid());
  for (std::uint32_t i = 10000; i-- > 0;) REQUIRE(tree.insert(key_of(i), i));
  std::uint32_t expect = 0;
  for (auto c = tree.begin(); c.valid(); c.next()) CHECK(c.row() == expect++);
  CHECK(expect == 10000);
}
