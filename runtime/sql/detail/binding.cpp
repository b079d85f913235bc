#include "runtime/sql/detail/binding.hpp"

#include "runtime/json_value.hpp"
#include "runtime/sats_json.hpp"

#include <cstdio>
#include <ctime>

namespace orrery::sql::detail {

void error(const std::string& message) { throw sql_error(message); }

std::string hidden_table(const std::string& name) {
  return "no such table: `" + name + "`. If the table exists, it may be marked private.";
}

budget::budget(std::chrono::milliseconds limit) : limit_(limit), deadline_(std::chrono::steady_clock::time_point::max()) {
  if (limit.count() > 0) deadline_ = std::chrono::steady_clock::now() + limit;
}

void budget::check() const {
  if (std::chrono::steady_clock::now() > deadline_)
    error("the query ran past its time budget of " + std::to_string(limit_.count()) +
          " ms; narrow it, for instance with a WHERE on an indexed column");
}

// ---- literals ----

std::string describe(const literal& l) {
  switch (l.type) {
    case literal::kind::integer: case literal::kind::floating: return l.text;
    case literal::kind::string: return "'" + l.text + "'";
    case literal::kind::boolean: return l.text;
    case literal::kind::hex: return "0x" + l.text;
    case literal::kind::null: return "NULL";
    case literal::kind::sender: return ":sender";
  }
  return "?";
}

// "2024-05-01T12:30:00.25Z" or with a +hh:mm offset, to microseconds since the epoch.
bool parse_rfc3339(const std::string& s, std::int64_t& micros) {
  int y, mo, d, h, mi;
  double sec;
  char sep;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%d%c%d:%d:%lf%n", &y, &mo, &d, &sep, &h, &mi, &sec, &consumed) < 7) return false;
  if (sep != 'T' && sep != 't' && sep != ' ') return false;
  std::string zone = s.substr(std::size_t(consumed));
  int offset = 0;
  if (zone == "Z" || zone == "z" || zone.empty()) offset = 0;
  else {
    int oh, om;
    if (std::sscanf(zone.c_str() + 1, "%d:%d", &oh, &om) != 2 || (zone[0] != '+' && zone[0] != '-')) return false;
    offset = (oh * 60 + om) * (zone[0] == '-' ? -1 : 1);
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = int(sec);
  std::int64_t seconds = std::int64_t(timegm(&tm)) - std::int64_t(offset) * 60;
  micros = seconds * 1000000 + std::int64_t((sec - int(sec)) * 1e6 + 0.5);
  return true;
}

/// The BSATN of `l` as a value of `type`; errors name the column.
std::string literal_bsatn(const literal& l, const algebraic_type& type, const std::string& column, const caller& who) {
  auto mismatch = [&](const std::string& what) -> std::string {
    error("type mismatch: column `" + column + "` is " + type_name(type) + ", but " + describe(l) + " is " + what);
  };
  special_type special = type.special();
  if (special == special_type::option) {
    if (l.type == literal::kind::null) return std::string(1, '\x01');
    return std::string(1, '\x00') + literal_bsatn(l, type.elements[0].type, column, who);
  }
  json_value j;
  switch (l.type) {
    case literal::kind::null: return mismatch("NULL (only Option columns hold NULL)");
    case literal::kind::sender:
      if (special != special_type::identity) mismatch("the caller's Identity");
      j.type = json_value::kind::string;
      j.text = "0x" + who.id.to_hex();
      break;
    case literal::kind::boolean:
      if (type.kind != type_kind::boolean) mismatch("a boolean");
      j.type = json_value::kind::boolean;
      j.flag = l.text == "true";
      break;
    case literal::kind::integer:
    case literal::kind::floating:
      if (!type.is_integer() && type.kind != type_kind::f32 && type.kind != type_kind::f64 &&
          special != special_type::timestamp && special != special_type::time_duration)
        mismatch("a number");
      if (l.type == literal::kind::floating && type.is_integer()) mismatch("not a whole number");
      j.type = json_value::kind::number;
      j.text = l.text;
      break;
    case literal::kind::hex:
      if (!(type.is_integer() || type.is_bytes() || special == special_type::identity ||
            special == special_type::connection_id || special == special_type::uuid))
        mismatch("a hex value");
      j.type = json_value::kind::string;
      j.text = "0x" + l.text;
      break;
    case literal::kind::string:
      if (special == special_type::timestamp) {
        std::int64_t micros;
        if (!parse_rfc3339(l.text, micros)) mismatch("not an RFC 3339 timestamp");
        std::string out;
        bsatn_writer(out).fixed(micros);
        return out;
      }
      if (type.kind == type_kind::sum && special == special_type::none) {
        for (std::size_t tag = 0; tag < type.elements.size(); ++tag)
          if (type.elements[tag].name == l.text && type.elements[tag].type == algebraic_type::unit())
            return std::string(1, char(tag));
        mismatch("not one of its variants");
      }
      if (type.kind != type_kind::string && !type.is_bytes() && special != special_type::identity &&
          special != special_type::connection_id && special != special_type::uuid)
        mismatch("a string");
      j.type = json_value::kind::string;
      j.text = l.text;
      // Identities and ids may be written as plain hex strings.
      if ((special == special_type::identity || special == special_type::connection_id ||
           special == special_type::uuid || type.is_bytes()) &&
          j.text.compare(0, 2, "0x") != 0)
        j.text = "0x" + j.text;
      break;
  }
  auto v = from_sats_json(type, j);
  if (!v) error("bad value for column `" + column + "`: " + v.error().message);
  return encode_value(*v);
}

std::string key_of_bsatn(const algebraic_type& type, std::string_view bsatn) {
  std::string key;
  bsatn_reader in(bsatn);
  append_key(key, type, in);
  return key;
}

void column_key(const bound_table& b, std::string_view row, std::uint16_t column, std::string& out) {
  out.clear();
  const auto& columns = b.t->schema().columns;
  if (!b.fixed_offsets.empty()) {
    bsatn_reader in(row.substr(b.fixed_offsets[column]));
    append_key(out, columns[column].type, in);
    return;
  }
  bsatn_reader in(row);
  for (std::uint16_t c = 0; c < column; ++c) skip_value(columns[c].type, in);
  append_key(out, columns[column].type, in);
}

value column_value(const bound_table& b, std::string_view row, std::uint16_t column) {
  const auto& columns = b.t->schema().columns;
  bsatn_reader in(row);
  if (!b.fixed_offsets.empty()) in = bsatn_reader(row.substr(b.fixed_offsets[column]));
  else
    for (std::uint16_t c = 0; c < column; ++c) skip_value(columns[c].type, in);
  return read_value(columns[column].type, in);
}


} // namespace orrery::sql::detail
