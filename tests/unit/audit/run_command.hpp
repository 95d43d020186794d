#pragma once

// Runs a program as a user would from a shell, for the egressctl tests: its exit code and what it
// printed (stdout and stderr together).

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace egress::audit::testing {

struct CommandRun {
  int exit_code = -1;  ///< -1 when it did not exit normally or could not start
  std::string output;  ///< stdout and stderr
};

/// `binary args 2>&1` through the shell.
inline CommandRun run_command(const std::string& binary, const std::string& args) {
  CommandRun r;
  const std::string cmd = binary + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace egress::audit::testing
