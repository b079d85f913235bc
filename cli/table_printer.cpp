#include "cli/table_printer.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace orrery::cli {

namespace {
// Display width in code points, so UTF-8 text lines up.
std::size_t width(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
}
} // namespace

std::string format_timestamp(std::int64_t micros) {
  std::time_t seconds = micros / 1000000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[32], out[48];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out, sizeof out, "%s.%06lldZ", date, static_cast<long long>(micros % 1000000));
  return out;
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (auto& h : header) widths.push_back(width(h));
  for (auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], width(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      out << (i ? " | " : " ") << cell;
      if (i + 1 < widths.size()) out << std::string(widths[i] - width(cell), ' ');
    }
    out << "\n";
  };
  line(header);
  for (std::size_t i = 0; i < widths.size(); ++i)
    out << (i ? "+" : "") << std::string(widths[i] + 2, '-');
  out << "\n";
  for (auto& row : rows) line(row);
}

} // namespace orrery::cli
