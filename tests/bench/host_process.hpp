#pragma once
// A real `orrery start` for benchmarks: on a free loopback port, with its data
// in a temporary folder, stopped with SIGINT (and checked) at the end, and
// restartable on the same data; and a keep-alive HTTP connection to it.

#include "runtime/types/identity.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

struct host_process {
  pid_t pid = -1;
  std::string port;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("orrery-bench-" + orrery::random_uuid());

  std::vector<std::string> options;

  /// `options` go after `orrery start --listen-addr … --data-dir …`.
  explicit host_process(std::vector<std::string> options = {}) : options(std::move(options)) { start(); }

  /// Starts the host; returns once it listens.
  void start() {
    std::vector<std::string> args{ORRERY_BIN, "start", "--listen-addr", "127.0.0.1:0", "--data-dir", dir.string()};
    args.insert(args.end(), options.begin(), options.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) std::exit(1);
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      execv(ORRERY_BIN, argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string text;
    char buf[256];
    while (text.find('\n') == std::string::npos) {
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, std::size_t(n));
    }
    auto at = text.find("127.0.0.1:");
    port = text.substr(at + 10, text.find(' ', at) - at - 10);
  }

  /// Stops the host with SIGINT, as a user would, and checks that it exited cleanly.
  void stop() {
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      std::fprintf(stderr, "the host did not exit cleanly (status %d)\n", status);
  }

  /// The host's resident memory in bytes (VmRSS).
  std::size_t resident_bytes() const {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
  }

  ~host_process() {
    stop();
    std::filesystem::remove_all(dir);
  }
};

/// One keep-alive HTTP/1.1 connection to the host.
struct connection {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream{io};
  boost::beast::flat_buffer buffer;

  explicit connection(const std::string& port) {
    boost::asio::ip::tcp::resolver resolver(io);
    stream.connect(resolver.resolve("127.0.0.1", port));
  }
  std::pair<int, std::string> send(const std::string& method, const std::string& target, const std::string& body,
                                   const std::string& token) {
    boost::beast::http::request<boost::beast::http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(boost::beast::http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(boost::beast::http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    boost::beast::http::write(stream, req);
    boost::beast::http::response<boost::beast::http::string_body> res;
    boost::beast::http::read(stream, buffer, res);
    return {int(res.result_int()), res.body()};
  }
};

/// A fresh identity's token from the host, or empty.
inline std::string mint_token(connection& host) {
  auto minted = host.send("POST", "/v1/identity", "", "");
  auto at = minted.second.find("\"token\":\"");
  if (minted.first != 200 || at == std::string::npos) return {};
  return minted.second.substr(at + 9, minted.second.find('"', at + 9) - at - 9);
}

/// A module bundle the build made (tests/modules, examples).
inline std::string read_bundle(const std::string& name) {
  std::ifstream in(std::string(ORRERY_BUNDLE_DIR) + "/" + name + ".js");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Mints an identity and publishes the bank test module as `bank`; the
/// owner's token, or empty (with the reason printed) when that failed.
inline std::string publish_bank(connection& host) {
  std::string token = mint_token(host);
  if (token.empty()) return {};
  auto published = host.send("PUT", "/v1/database/bank", read_bundle("bank"), token);
  if (published.first != 200) {
    std::fprintf(stderr, "publish failed: %s\n", published.second.c_str());
    return {};
  }
  return token;
}
