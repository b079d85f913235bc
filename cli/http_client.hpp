#pragma once
// A small blocking HTTP/1.1 client for the CLI (one connection per request).

#include <functional>
#include <string>
#include <string_view>

namespace orrery::cli {

struct http_reply {
  int status = 0;
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

class http_client {
public:
  /// `base_url` is http://host:port; throws cli_error if it is not.
  http_client(const std::string& base_url, std::string token);

  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::string& content_type = "application/json") const;
  /// GETs `target` and passes the body to `on_data` as it arrives; returns the
  /// status (a non-2xx body is passed whole at the end).
  int stream(const std::string& target, const std::function<void(std::string_view)>& on_data) const;

private:
  std::string url_, host_, port_, token_;
};

/// Percent-encodes a path segment or query value.
std::string url_encode(std::string_view text);

} // namespace orrery::cli
