#include "runtime/sql/detail/binding.hpp"

#include "runtime/sql/row_security.hpp"

#include "runtime/types/json_value.hpp"
#include "runtime/types/sats_json.hpp"

namespace orrery::sql::detail {

std::optional<bound_expr> binder::bind_where(const expr* where) const {
  std::vector<bound_expr> terms;
  if (where) terms.push_back(bind(*where));
  if (!who_.reads_private && who_.visibility)
    for (auto& b : tables)
      if (auto visible = who_.visibility->condition(b.t->schema().name, b.alias)) terms.push_back(bind(*visible));
  if (terms.empty()) return std::nullopt;
  if (terms.size() == 1) return std::move(terms[0]);
  bound_expr all;
  all.type = expr::kind::and_;
  for (auto& t : terms) {
    if (t.type != expr::kind::and_) all.children.push_back(std::move(t));
    else
      for (auto& c : t.children) all.children.push_back(std::move(c));
  }
  return all;
}

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

namespace {

/// `count` decimal digits at `at`, advancing it; false if there are fewer.
bool digits(const std::string& s, std::size_t& at, int count, int& value) {
  value = 0;
  for (int i = 0; i < count; ++i, ++at) {
    if (at >= s.size() || s[at] < '0' || s[at] > '9') return false;
    value = value * 10 + (s[at] - '0');
  }
  return true;
}

bool expect(const std::string& s, std::size_t& at, char c) { return at < s.size() && s[at++] == c; }

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + std::int64_t(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

} // namespace

// "2024-05-01T12:30:00.25Z", with a +hh:mm or -hh:mm offset, or no zone (UTC),
// to microseconds since the epoch. Every field is checked against its range:
// years 0000-9999, real days of the month, a leap second at most.
bool parse_rfc3339(const std::string& s, std::int64_t& micros) {
  std::size_t at = 0;
  int y, mo, d, h, mi, sec;
  if (!digits(s, at, 4, y) || !expect(s, at, '-') || !digits(s, at, 2, mo) || !expect(s, at, '-') ||
      !digits(s, at, 2, d))
    return false;
  if (at >= s.size() || (s[at] != 'T' && s[at] != 't' && s[at] != ' ')) return false;
  ++at;
  if (!digits(s, at, 2, h) || !expect(s, at, ':') || !digits(s, at, 2, mi) || !expect(s, at, ':') ||
      !digits(s, at, 2, sec))
    return false;
  static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || sec > 60)
    return false;
  std::int64_t nanos = 0;  // up to nine fraction digits
  if (at < s.size() && s[at] == '.') {
    int count = 0;
    for (++at; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, ++count)
      if (count < 9) nanos = nanos * 10 + (s[at] - '0');
    if (count == 0 || count > 9) return false;
    for (; count < 9; ++count) nanos *= 10;
  }
  int offset_minutes = 0;
  std::string zone = s.substr(at);
  if (!zone.empty() && zone != "Z" && zone != "z") {
    std::size_t z = 1;
    int oh, om;
    if ((zone[0] != '+' && zone[0] != '-') || !digits(zone, z, 2, oh) || !expect(zone, z, ':') ||
        !digits(zone, z, 2, om) || z != zone.size() || oh > 23 || om > 59)
      return false;
    offset_minutes = (oh * 60 + om) * (zone[0] == '-' ? -1 : 1);
  }
  std::int64_t seconds = days_from_civil(y, unsigned(mo), unsigned(d)) * 86400 + h * 3600 + mi * 60 + sec -
                         std::int64_t(offset_minutes) * 60;
  micros = seconds * 1000000 + (nanos + 500) / 1000;
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
