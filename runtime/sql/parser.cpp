#include "runtime/sql/parser.hpp"

#include <cctype>
#include <stdexcept>

namespace orrery::sql {
namespace {

struct token {
  enum class kind { end, word, quoted, number, string, hex, param, symbol };
  kind type = kind::end;
  std::string text;
  std::size_t position = 0;
  bool floating = false;  // number with a fraction or exponent
};

struct syntax_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::vector<token> tokenize(std::string_view in) {
  std::vector<token> out;
  std::size_t i = 0;
  auto fail = [&](const std::string& what) {
    throw syntax_error("syntax error at position " + std::to_string(i + 1) + ": " + what);
  };
  while (i < in.size()) {
    char c = in[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    token t;
    t.position = i + 1;
    if ((c == 'x' || c == 'X') && i + 1 < in.size() && in[i + 1] == '\'') {
      std::size_t end = in.find('\'', i + 2);
      if (end == std::string_view::npos) fail("unterminated hex literal");
      t.type = token::kind::hex;
      t.text = std::string(in.substr(i + 2, end - i - 2));
      i = end + 1;
    } else if (c == '0' && i + 1 < in.size() && (in[i + 1] == 'x' || in[i + 1] == 'X')) {
      std::size_t j = i + 2;
      while (j < in.size() && std::isxdigit(static_cast<unsigned char>(in[j]))) ++j;
      t.type = token::kind::hex;
      t.text = std::string(in.substr(i + 2, j - i - 2));
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < in.size() && (std::isalnum(static_cast<unsigned char>(in[j])) || in[j] == '_')) ++j;
      t.type = token::kind::word;
      t.text = std::string(in.substr(i, j - i));
      i = j;
    } else if (c == '"') {
      std::size_t j = i + 1;
      std::string name;
      for (;; ++j) {
        if (j >= in.size()) fail("unterminated quoted identifier");
        if (in[j] == '"') {
          if (j + 1 < in.size() && in[j + 1] == '"') {
            name.push_back('"');
            ++j;
            continue;
          }
          break;
        }
        name.push_back(in[j]);
      }
      t.type = token::kind::quoted;
      t.text = name;
      i = j + 1;
    } else if (c == '\'') {
      std::size_t j = i + 1;
      std::string s;
      for (;; ++j) {
        if (j >= in.size()) fail("unterminated string literal");
        if (in[j] == '\'') {
          if (j + 1 < in.size() && in[j + 1] == '\'') {
            s.push_back('\'');
            ++j;
            continue;
          }
          break;
        }
        s.push_back(in[j]);
      }
      t.type = token::kind::string;
      t.text = s;
      i = j + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < in.size() && std::isdigit(static_cast<unsigned char>(in[i + 1])))) {
      std::size_t j = i;
      while (j < in.size() && std::isdigit(static_cast<unsigned char>(in[j]))) ++j;
      if (j < in.size() && in[j] == '.') {
        t.floating = true;
        ++j;
        while (j < in.size() && std::isdigit(static_cast<unsigned char>(in[j]))) ++j;
      }
      if (j < in.size() && (in[j] == 'e' || in[j] == 'E')) {
        t.floating = true;
        ++j;
        if (j < in.size() && (in[j] == '+' || in[j] == '-')) ++j;
        while (j < in.size() && std::isdigit(static_cast<unsigned char>(in[j]))) ++j;
      }
      t.type = token::kind::number;
      t.text = std::string(in.substr(i, j - i));
      i = j;
    } else if (c == ':') {
      std::size_t j = i + 1;
      while (j < in.size() && (std::isalnum(static_cast<unsigned char>(in[j])) || in[j] == '_')) ++j;
      if (j == i + 1) fail("expected a parameter name after `:`");
      t.type = token::kind::param;
      t.text = std::string(in.substr(i + 1, j - i - 1));
      i = j;
    } else {
      static const char* symbols[] = {"!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ",", ".", "*", ";", "-", "+"};
      bool matched = false;
      for (const char* s : symbols) {
        std::size_t n = std::char_traits<char>::length(s);
        if (in.substr(i, n) == s) {
          t.type = token::kind::symbol;
          t.text = s;
          i += n;
          matched = true;
          break;
        }
      }
      if (!matched) fail(std::string("unexpected character `") + c + "`");
    }
    out.push_back(std::move(t));
  }
  token end;
  end.position = in.size() + 1;
  out.push_back(end);
  return out;
}

class parser {
public:
  parser(std::vector<token> tokens, const limits& bounds) : t_(std::move(tokens)), bounds_(bounds) {}

  statement parse_statement() {
    statement s;
    if (keyword("SELECT")) {
      s.type = statement::kind::select;
      s.select = parse_select();
    } else if (keyword("INSERT")) {
      s.type = statement::kind::insert;
      s.insert = parse_insert();
    } else if (keyword("UPDATE")) {
      s.type = statement::kind::update;
      s.update = parse_update();
    } else if (keyword("DELETE")) {
      s.type = statement::kind::delete_;
      expect_keyword("FROM");
      s.remove.table = parse_table_ref(false);
      if (keyword("WHERE")) s.remove.where = parse_or();
    } else if (keyword("SET")) {
      s.type = statement::kind::set;
      s.set.name = identifier("a setting name");
      expect_symbol("=");
      s.set.value = parse_literal();
    } else if (keyword("SHOW")) {
      s.type = statement::kind::show;
      s.show.name = identifier("a setting name");
    } else {
      error("SELECT, INSERT, UPDATE, DELETE, SET or SHOW");
    }
    symbol(";");
    if (peek().type != token::kind::end) error("the end of the statement");
    return s;
  }

private:
  const token& peek(std::size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  const token& next() { return t_[std::min(pos_++, t_.size() - 1)]; }

  [[noreturn]] void error(const std::string& expected) const {
    const token& t = peek();
    std::string found = t.type == token::kind::end ? "the end of the query" : "`" + t.text + "`";
    throw syntax_error("syntax error at position " + std::to_string(t.position) + ": expected " + expected +
                       ", found " + found);
  }

  // Refuses the `count`th item of a list (or level of nesting) past `limit`, at the item.
  void bound(std::size_t count, std::size_t limit, const std::string& what) const {
    if (count <= limit) return;
    throw syntax_error("statement too complex at position " + std::to_string(peek().position) + ": " + what +
                       " than the limit of " + std::to_string(limit) + "; simplify it or split it into several");
  }

  bool is_keyword(const token& t, const char* word) const {
    return t.type == token::kind::word && upper(t.text) == word;
  }
  bool keyword(const char* word) {
    if (!is_keyword(peek(), word)) return false;
    ++pos_;
    return true;
  }
  void expect_keyword(const char* word) {
    if (!keyword(word)) error(word);
  }
  bool symbol(const char* s) {
    if (peek().type != token::kind::symbol || peek().text != s) return false;
    ++pos_;
    return true;
  }
  void expect_symbol(const char* s) {
    if (!symbol(s)) error(std::string("`") + s + "`");
  }

  static bool reserved(const std::string& word) {
    static const char* words[] = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "JOIN", "INNER", "ON", "AS",
                                  "LIMIT", "ORDER", "BY", "ASC", "DESC", "INSERT", "INTO", "VALUES", "UPDATE",
                                  "SET", "DELETE", "SHOW", "TRUE", "FALSE", "NULL", "CROSS"};
    std::string u = upper(word);
    for (const char* w : words)
      if (u == w) return true;
    return false;
  }

  std::string identifier(const char* what) {
    const token& t = peek();
    if (t.type == token::kind::quoted || (t.type == token::kind::word && !reserved(t.text))) {
      ++pos_;
      return t.text;
    }
    error(what);
  }

  table_ref parse_table_ref(bool allow_alias) {
    table_ref r;
    r.position = peek().position;
    r.name = identifier("a table name");
    r.alias = r.name;
    if (allow_alias) {
      if (keyword("AS")) r.alias = identifier("an alias");
      // OFFSET stays a name elsewhere (columns called offset are common); here it ends the statement.
      else if (peek().type == token::kind::quoted ||
               (peek().type == token::kind::word && !reserved(peek().text) && upper(peek().text) != "OFFSET"))
        r.alias = identifier("an alias");
    }
    return r;
  }

  column_ref parse_column_ref() {
    column_ref c;
    c.position = peek().position;
    std::string first = identifier("a column name");
    if (symbol(".")) {
      c.table = first;
      c.column = identifier("a column name");
    } else {
      c.column = first;
    }
    return c;
  }

  literal parse_literal() {
    literal l;
    const token& t = peek();
    l.position = t.position;
    bool negative = false;
    if (t.type == token::kind::symbol && (t.text == "-" || t.text == "+")) {
      negative = t.text == "-";
      ++pos_;
      if (peek().type != token::kind::number) error("a number");
    }
    const token& v = next();
    switch (v.type) {
      case token::kind::number:
        l.type = v.floating ? literal::kind::floating : literal::kind::integer;
        l.text = (negative ? "-" : "") + v.text;
        return l;
      case token::kind::string: l.type = literal::kind::string; l.text = v.text; return l;
      case token::kind::hex: l.type = literal::kind::hex; l.text = v.text; return l;
      case token::kind::param:
        if (v.text != "sender") throw syntax_error("unknown parameter `:" + v.text + "` (only :sender exists)");
        l.type = literal::kind::sender;
        return l;
      case token::kind::word:
        if (upper(v.text) == "TRUE" || upper(v.text) == "FALSE") {
          l.type = literal::kind::boolean;
          l.text = upper(v.text) == "TRUE" ? "true" : "false";
          return l;
        }
        if (upper(v.text) == "NULL") {
          l.type = literal::kind::null;
          return l;
        }
        break;
      default: break;
    }
    --pos_;
    error("a literal value");
  }

  bool at_literal() const {
    const token& t = peek();
    switch (t.type) {
      case token::kind::number: case token::kind::string: case token::kind::hex: case token::kind::param: return true;
      case token::kind::symbol: return t.text == "-" || t.text == "+";
      case token::kind::word: {
        std::string u = upper(t.text);
        return u == "TRUE" || u == "FALSE" || u == "NULL";
      }
      default: return false;
    }
  }

  operand parse_operand() {
    operand o;
    if (at_literal()) o.constant = parse_literal();
    else o.column = parse_column_ref();
    return o;
  }

  // A chain of ORs (or ANDs) is one node with a child per term, however
  // long, so only nesting makes the tree deeper.
  std::unique_ptr<expr> parse_or() { return parse_chain(expr::kind::or_, "OR", &parser::parse_and); }
  std::unique_ptr<expr> parse_and() { return parse_chain(expr::kind::and_, "AND", &parser::parse_not); }

  std::unique_ptr<expr> parse_chain(expr::kind type, const char* word, std::unique_ptr<expr> (parser::*term)()) {
    auto first = (this->*term)();
    if (!is_keyword(peek(), word)) return first;
    auto chain = std::make_unique<expr>();
    chain->type = type;
    auto add = [&](std::unique_ptr<expr> e) {
      if (e->type == type)  // (a OR b) OR c
        for (auto& c : e->children) chain->children.push_back(std::move(c));
      else
        chain->children.push_back(std::move(e));
    };
    add(std::move(first));
    while (keyword(word)) add((this->*term)());
    return chain;
  }

  std::unique_ptr<expr> parse_not() {
    bool negated = is_keyword(peek(), "NOT");
    if (negated || (peek().type == token::kind::symbol && peek().text == "(")) {
      bound(++depth_, bounds_.max_expression_depth, "the condition nests parentheses and NOT deeper");
      ++pos_;
      std::unique_ptr<expr> e;
      if (negated) {
        e = std::make_unique<expr>();
        e->type = expr::kind::not_;
        e->children.push_back(parse_not());
      } else {
        e = parse_or();
        expect_symbol(")");
      }
      --depth_;
      return e;
    }
    bound(++terms_, bounds_.max_where_terms, "the condition has more comparisons");
    auto e = std::make_unique<expr>();
    e->left = parse_operand();
    static const std::pair<const char*, compare_op> ops[] = {{"=", compare_op::eq},  {"!=", compare_op::ne},
                                                             {"<>", compare_op::ne}, {"<=", compare_op::le},
                                                             {">=", compare_op::ge}, {"<", compare_op::lt},
                                                             {">", compare_op::gt}};
    bool found = false;
    for (auto& [text, op] : ops)
      if (symbol(text)) {
        e->op = op;
        found = true;
        break;
      }
    if (!found) error("a comparison (=, !=, <>, <, <=, >, >=)");
    e->right = parse_operand();
    return e;
  }

  select_statement parse_select() {
    select_statement s;
    do {
      bound(s.items.size() + 1, bounds_.max_select_items, "the query selects more items");
      select_item item;
      if (symbol("*")) {
        item.type = select_item::kind::all;
      } else if (is_keyword(peek(), "COUNT") && peek(1).type == token::kind::symbol && peek(1).text == "(") {
        pos_ += 2;
        expect_symbol("*");
        expect_symbol(")");
        item.type = select_item::kind::count;
        item.alias = "count";
        if (keyword("AS")) item.alias = identifier("an alias");
      } else if ((peek().type == token::kind::word || peek().type == token::kind::quoted) && peek(1).text == "." &&
                 peek(2).text == "*" && peek(2).type == token::kind::symbol) {
        item.type = select_item::kind::table_all;
        item.table = identifier("a table name");
        pos_ += 2;
      } else {
        item.type = select_item::kind::column;
        item.column = parse_column_ref();
        item.alias = item.column.column;
        if (keyword("AS")) item.alias = identifier("an alias");
      }
      s.items.push_back(std::move(item));
    } while (symbol(","));
    expect_keyword("FROM");
    s.from = parse_table_ref(true);
    for (;;) {
      bool inner = keyword("INNER");
      if (!keyword("JOIN")) {
        if (inner) error("JOIN");
        break;
      }
      bound(s.joins.size() + 1, bounds_.max_joins, "the query has more joins");
      join j;
      j.table = parse_table_ref(true);
      if (keyword("ON")) {
        j.left = parse_column_ref();
        expect_symbol("=");
        j.right = parse_column_ref();
      }
      s.joins.push_back(std::move(j));
    }
    if (keyword("WHERE")) s.where = parse_or();
    if (keyword("ORDER")) {
      expect_keyword("BY");
      do {
        bound(s.order_by.size() + 1, bounds_.max_order_by_columns, "ORDER BY has more columns");
        order_item o;
        o.column = parse_column_ref();
        if (keyword("DESC")) o.descending = true;
        else keyword("ASC");
        s.order_by.push_back(std::move(o));
      } while (symbol(","));
    }
    // Either order, as PostgreSQL takes them.
    if (keyword("LIMIT")) s.limit = whole_number("LIMIT");
    if (keyword("OFFSET")) s.offset = whole_number("OFFSET");
    if (!s.limit && keyword("LIMIT")) s.limit = whole_number("LIMIT");
    return s;
  }

  std::uint64_t whole_number(const char* after) {
    const token& t = peek();
    if (t.type != token::kind::number || t.floating) error(std::string("a whole number after ") + after);
    ++pos_;
    return std::stoull(t.text);
  }

  insert_statement parse_insert() {
    insert_statement s;
    expect_keyword("INTO");
    s.table = parse_table_ref(false);
    if (symbol("(")) {
      do s.columns.push_back(identifier("a column name"));
      while (symbol(","));
      expect_symbol(")");
    }
    expect_keyword("VALUES");
    do {
      expect_symbol("(");
      std::vector<literal> row;
      do row.push_back(parse_literal());
      while (symbol(","));
      expect_symbol(")");
      s.rows.push_back(std::move(row));
    } while (symbol(","));
    return s;
  }

  update_statement parse_update() {
    update_statement s;
    s.table = parse_table_ref(false);
    expect_keyword("SET");
    do {
      assignment a;
      a.position = peek().position;
      a.column = identifier("a column name");
      expect_symbol("=");
      a.value = parse_literal();
      s.assignments.push_back(std::move(a));
    } while (symbol(","));
    if (keyword("WHERE")) s.where = parse_or();
    return s;
  }

  std::vector<token> t_;
  std::size_t pos_ = 0;
  const limits& bounds_;
  std::size_t depth_ = 0;  // parentheses and NOTs open
  std::size_t terms_ = 0;  // comparisons so far
};

} // namespace

result<statement> parse(std::string_view text, const limits& bounds) {
  if (text.size() > bounds.max_statement_bytes)
    return fail(errc::invalid_argument, "the statement is " + std::to_string(text.size()) +
                                            " bytes long, past the limit of " +
                                            std::to_string(bounds.max_statement_bytes) +
                                            " bytes; split it into several statements");
  try {
    parser p(tokenize(text), bounds);
    return p.parse_statement();
  } catch (const syntax_error& e) {
    return fail(errc::invalid_argument, e.what());
  } catch (const std::out_of_range&) {
    return fail(errc::invalid_argument, "a number in the query is too large");
  }
}

} // namespace orrery::sql
