// Outbound HTTP for procedures: what it refuses before sending anything.

#include "net/http_fetch.hpp"

#include <catch2/catch.hpp>

using namespace orrery;

namespace {

std::string refusal(const std::string& uri, http_fetch_policy policy = {}) {
  http_fetch_request request;
  request.uri = uri;
  request.timeout = std::chrono::milliseconds(2000);
  auto answered = http_fetch(request, policy);
  return answered ? std::string() : answered.error().message;
}

} // namespace

TEST_CASE("procedures' HTTP requests do not reach private or special-purpose addresses", "[net]") {
  const char* special[] = {
    "http://127.0.0.1:9/", "http://localhost:9/", "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/", "http://0.0.0.0/", "http://[::1]:9/",
    "http://[fe80::1]/", "http://[fd00::1]/", "http://[::ffff:10.0.0.1]/", "http://[::a00:1]/",
    "http://[64:ff9b::a00:1]/", "http://[2002:a00:1::1]/", "http://[2001:0:a00:1::1]/",
  };
  for (const char* uri : special) {
    INFO(uri);
    CHECK_THAT(refusal(uri), Catch::Matchers::Contains("refusing to connect to private or special-purpose addresses"));
  }
}

TEST_CASE("procedures' HTTP requests name what is wrong with their URL", "[net]") {
  CHECK_THAT(refusal("https://example.com/"), Catch::Matchers::Contains("https is not supported by this host yet"));
  CHECK_THAT(refusal("ftp://example.com/"), Catch::Matchers::Contains("the URL must start with http://"));
  CHECK_THAT(refusal("http://user:pw@example.com/"), Catch::Matchers::Contains("credentials in the URL"));
  CHECK_THAT(refusal("http://example.com:port/"), Catch::Matchers::Contains("the port must be a number"));
  CHECK_THAT(refusal("http:///path"), Catch::Matchers::Contains("no host"));
}

TEST_CASE("with private addresses allowed, a closed local port fails with the reason", "[net]") {
  http_fetch_policy open;
  open.allow_private_addresses = true;
  CHECK_THAT(refusal("http://127.0.0.1:9/", open), Catch::Matchers::Contains("cannot connect"));
}
