#include "runtime/types/json_value.hpp"

#include <nlohmann/json.hpp>

#include <type_traits>

namespace orrery {

static_assert(std::is_nothrow_move_constructible_v<json_value>,
              "json_value must move without throwing: vectors of it move on growth");

json_value::~json_value() {
  if (items.empty() && fields.empty()) return;
  // Move every nested value into a work list and empty it before it is
  // destroyed, so each destructor below finds no children.
  std::vector<json_value> pending;
  auto adopt = [&pending](json_value& v) {
    for (auto& x : v.items) pending.push_back(std::move(x));
    for (auto& f : v.fields) pending.push_back(std::move(f.second));
    v.items.clear();
    v.fields.clear();
  };
  adopt(*this);
  while (!pending.empty()) {
    json_value v = std::move(pending.back());
    pending.pop_back();
    adopt(v);
  }
}

namespace {

// Builds json_value trees from nlohmann's SAX events; integers too large for
// 64 bits arrive as number_float with their source text, which is kept.
// Refuses an array or object opened deeper than json_max_depth; nlohmann's
// parser itself keeps its own state on the heap and does not recurse.
class builder : public nlohmann::json_sax<nlohmann::json> {
public:
  json_value root;
  std::string error;

  bool null() override { return put(json_value{}); }
  bool boolean(bool b) override {
    json_value v;
    v.type = json_value::kind::boolean;
    v.flag = b;
    return put(std::move(v));
  }
  bool number_integer(number_integer_t x) override { return number(std::to_string(x)); }
  bool number_unsigned(number_unsigned_t x) override { return number(std::to_string(x)); }
  bool number_float(number_float_t, const string_t& s) override { return number(s); }
  bool string(string_t& s) override {
    json_value v;
    v.type = json_value::kind::string;
    v.text = std::move(s);
    return put(std::move(v));
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(json_value::kind::object); }
  bool key(string_t& k) override {
    keys_.back() = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json_value::kind::array); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error = "invalid JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

private:
  bool number(std::string text) {
    json_value v;
    v.type = json_value::kind::number;
    v.text = std::move(text);
    return put(std::move(v));
  }
  bool put(json_value v) {
    if (stack_.empty()) {
      root = std::move(v);
    } else if (stack_.back().type == json_value::kind::array) {
      stack_.back().items.push_back(std::move(v));
    } else {
      stack_.back().fields.emplace_back(keys_.back(), std::move(v));
    }
    return true;
  }
  bool open(json_value::kind k) {
    if (stack_.size() >= json_max_depth) {
      error = "JSON nests arrays and objects deeper than " + std::to_string(json_max_depth) +
              " levels, the most the host accepts";
      return false;
    }
    json_value v;
    v.type = k;
    stack_.push_back(std::move(v));
    keys_.emplace_back();
    return true;
  }
  bool close() {
    json_value done = std::move(stack_.back());
    stack_.pop_back();
    keys_.pop_back();
    return put(std::move(done));
  }
  std::vector<json_value> stack_;
  std::vector<std::string> keys_;
};

} // namespace

result<json_value> json_value::parse(std::string_view text) {
  builder b;
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &b);
  if (!ok) return fail(errc::invalid_argument, b.error.empty() ? "invalid JSON" : b.error);
  return std::move(b.root);
}

std::string json_quote(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace orrery
