#include "policy/version.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>

extern char** environ;

namespace egress::policy {

namespace {

void put_length(EVP_MD_CTX* ctx, std::uint64_t n) {
  std::array<unsigned char, 8> b;
  for (int i = 7; i >= 0; --i) {
    b[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n);
    n >>= 8;
  }
  EVP_DigestUpdate(ctx, b.data(), b.size());
}

// Runs a command (no shell) and returns its stdout, or nullopt when it cannot run or exits
// non-zero. stderr goes to /dev/null: "not a git repository" is an expected answer.
std::optional<std::string> run(const std::vector<std::string>& args) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return std::nullopt;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  posix_spawn_file_actions_addclose(&fa, pipefd[1]);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string content_sha256(const std::vector<SourceFile>& files) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const auto& f : files) {
    put_length(ctx.get(), f.name.size());
    EVP_DigestUpdate(ctx.get(), f.name.data(), f.name.size());
    put_length(ctx.get(), f.bytes.size());
    EVP_DigestUpdate(ctx.get(), f.bytes.data(), f.bytes.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

VersionInfo git_state(const std::filesystem::path& dir) {
  VersionInfo v;
  auto head = run({"git", "-C", dir.string(), "rev-parse", "--verify", "-q", "HEAD"});
  if (!head) return v;
  while (!head->empty() && (head->back() == '\n' || head->back() == '\r')) head->pop_back();
  if (head->size() < 40) return v;
  v.git_commit = *head;
  auto status = run({"git", "-C", dir.string(), "status", "--porcelain", "--", "."});
  v.git_dirty = !status || !status->empty();
  return v;
}

}  // namespace egress::policy
