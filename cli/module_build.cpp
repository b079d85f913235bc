#include "cli/module_build.hpp"

#include "cli/commands.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace orrery::cli {

namespace fs = std::filesystem;

namespace {

// esbuild from the project's node_modules, or from a folder above it.
fs::path find_esbuild(const fs::path& project) {
  for (fs::path dir = fs::absolute(project); !dir.empty(); dir = dir.parent_path()) {
    fs::path candidate = dir / "node_modules" / ".bin" / "esbuild";
    if (fs::exists(candidate)) return candidate;
    if (dir == dir.root_path()) break;
  }
  return {};
}

int run(const std::vector<std::string>& argv, const fs::path& cwd) {
  pid_t pid = fork();
  if (pid < 0) throw cli_error("cannot start esbuild");
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(127);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

} // namespace

std::string build_module(const std::string& project_dir) {
  fs::path project = fs::absolute(project_dir);
  fs::path entry = project / "src" / "index.ts";
  if (!fs::exists(entry)) entry = project / "src" / "index.js";
  if (!fs::exists(entry))
    throw cli_error("no module project in " + project.string() + ": expected src/index.ts or src/index.js");
  fs::path esbuild = find_esbuild(project);
  if (esbuild.empty())
    throw cli_error("esbuild is not installed for " + project.string() + ": run `npm install` there first");
  fs::path out = project / "dist" / "bundle.js";
  int status = run({esbuild.string(), entry.string(), "--bundle", "--format=esm", "--platform=neutral",
                    "--target=es2022", "--main-fields=module,main", "--conditions=import,default",
                    "--external:spacetime:sys*", "--define:process.env.NODE_ENV=\"production\"",
                    "--log-level=warning", "--outfile=" + out.string()},
                   project);
  if (status != 0) throw cli_error("the module did not build (esbuild exited with " + std::to_string(status) + ")");
  return out.string();
}

} // namespace orrery::cli
