#pragma once
// `result<T>`: a value or a failure with a code and a message for the user.
// The engine returns these instead of throwing.

#include <string>
#include <utility>
#include <variant>

namespace orrery {

/// Failure codes of the engine; the numbers are the module ABI's errnos.
enum class errc : int {
  host_call_failure = 1,
  not_in_transaction = 2,
  bsatn_decode = 3,
  no_such_table = 4,
  no_such_index = 5,
  no_such_iterator = 6,
  wrong_index_algorithm = 10,
  unique_already_exists = 12,
  index_not_unique = 14,
  no_such_row = 15,
  auto_inc_overflow = 16,
  would_block_transaction = 17,    // a procedure opened a transaction while one is open
  transaction_not_anonymous = 18,  // a procedure committed or aborted with none open
  http_error = 21,                 // a procedure's HTTP request failed
  invalid_argument = 100,  // not an ABI errno: bad input from a user (SQL, JSON, schema)
  storage = 101,
};

struct failure {
  errc code;
  std::string message;
};

template <class T>
class [[nodiscard]] result {
public:
  result(T value) : v_(std::move(value)) {}
  result(failure f) : v_(std::move(f)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const failure& error() const { return std::get<1>(v_); }

private:
  std::variant<T, failure> v_;
};

/// For operations with nothing to return.
struct done {};

inline failure fail(errc code, std::string message) { return {code, std::move(message)}; }

} // namespace orrery
