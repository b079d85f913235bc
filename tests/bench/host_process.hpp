#pragma once
// A real `orrery start` for benchmarks: on a free loopback port, with its data
// in a temporary folder, stopped with SIGINT (and checked) at the end.

#include "runtime/identity.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

struct host_process {
  pid_t pid = -1;
  std::string port;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("orrery-bench-" + orrery::random_uuid());

  host_process() {
    int out[2];
    if (pipe(out) != 0) std::exit(1);
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      execl(ORRERY_BIN, ORRERY_BIN, "start", "--listen-addr", "127.0.0.1:0", "--data-dir", dir.c_str(), nullptr);
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

  ~host_process() {
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      std::fprintf(stderr, "the host did not exit cleanly (status %d)\n", status);
    std::filesystem::remove_all(dir);
  }
};
