#include "audit/audit_log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "audit/chain.hpp"
#include "audit/origin.hpp"
#include "audit/verify.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::conn_counter;
using testing::eventually;
using testing::parse_object;
using testing::read_file;
using testing::read_lines;
using testing::sample_decision;
using testing::TempDir;

Options file_options(const std::string& path) {
  Options o;
  o.path = path;
  return o;
}

// conn_id must join a decision with its close across restarts and replicas (issue 22): two runs
// on one file number their connections from 1 again, yet no conn_id repeats; every record names
// the gateway (the host name unless audit.gateway_id says otherwise).
TEST(AuditWriter, ConnIdsOfTwoRunsNeverCollideAndRecordsNameTheGateway) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  for (int run = 0; run < 2; ++run) {
    Options o = file_options(path);
    if (run == 1) o.gateway_id = "egress-b";
    auto log = open_audit_log(o);
    log->submit(sample_decision(1), {});
    log->close();
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  const auto first = parse_object(lines[0]);
  const auto second = parse_object(lines[1]);
  EXPECT_EQ(conn_counter(first), 1u);
  EXPECT_EQ(conn_counter(second), 1u);
  EXPECT_NE(first.at("conn_id").as_string(), second.at("conn_id").as_string());
  EXPECT_EQ(first.at("gateway").as_string(), host_name());
  EXPECT_NE(host_name(), "unknown");
  EXPECT_EQ(second.at("gateway").as_string(), "egress-b");
}

TEST(AuditWriter, WritesChainedLinesAndCallsBackAfterWrite) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  auto log = open_audit_log(file_options(path));
  std::atomic<int> ok{0};
  for (std::uint64_t i = 1; i <= 3; ++i) {
    log->submit(sample_decision(i), [&](bool written) {
      if (written) ++ok;
    });
  }
  log->close();
  EXPECT_EQ(ok.load(), 3);
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  std::string prev{kGenesisHash};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto obj = parse_object(lines[i]);
    EXPECT_EQ(obj.at("v").as_int64(), 1);
    EXPECT_EQ(obj.at("seq").to_number<std::uint64_t>(), i + 1);
    EXPECT_EQ(obj.at("prev").as_string(), prev);
    EXPECT_EQ(conn_counter(obj), i + 1);
    prev = sha256_hex(lines[i]);
  }
  const auto stats = log->stats();
  EXPECT_EQ(stats.records_written, 3u);
  EXPECT_EQ(stats.records_dropped, 0u);
  EXPECT_TRUE(stats.sink_healthy);
}

TEST(AuditWriter, ContinuesTheChainOfAnExistingFile) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  {
    auto log = open_audit_log(file_options(path));
    log->submit(sample_decision(1));
    log->submit(sample_decision(2));
  }
  {
    auto log = open_audit_log(file_options(path));
    log->submit(sample_decision(3));
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  const auto third = parse_object(lines[2]);
  EXPECT_EQ(third.at("seq").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(third.at("prev").as_string(), sha256_hex(lines[1]));
}

TEST(AuditWriter, ReopenAfterRotationKeepsTheChainAcrossFiles) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  const auto rotated = dir.file("audit.jsonl.1");
  auto log = open_audit_log(file_options(path));
  log->submit(sample_decision(1));
  log->submit(sample_decision(2));
  ASSERT_TRUE(eventually([&] { return log->stats().records_written == 2; }));
  std::filesystem::rename(path, rotated);  // what logrotate does before SIGUSR1
  log->reopen();
  log->submit(sample_decision(3));
  log->submit(sample_decision(4));
  log->close();

  const auto old_lines = read_lines(rotated);
  const auto new_lines = read_lines(path);
  ASSERT_EQ(old_lines.size(), 2u);
  ASSERT_EQ(new_lines.size(), 2u);
  const auto first_new = parse_object(new_lines[0]);
  EXPECT_EQ(first_new.at("seq").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(first_new.at("prev").as_string(), sha256_hex(old_lines[1]))
      << "the first record of the new file names the last hash of the old one";
  const auto result = verify_chain({rotated, path});
  EXPECT_TRUE(result.ok()) << (result.broken ? result.broken->message : result.error);
  EXPECT_EQ(result.records, 4u);
}

TEST(AuditWriter, CutsATornLastLineAndContinuesFromTheLastCompleteOne) {
  TempDir dir;
  const auto path = dir.file("audit.jsonl");
  {
    auto log = open_audit_log(file_options(path));
    log->submit(sample_decision(1));
    log->submit(sample_decision(2));
  }
  { std::ofstream(path, std::ios::app) << R"({"v":1,"seq":3,"prev":"ab)"; }
  {
    auto log = open_audit_log(file_options(path));
    log->submit(sample_decision(3));
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(conn_counter(parse_object(lines[2])), 3);
  EXPECT_TRUE(verify_chain({path}).ok());
}

TEST(AuditWriter, RefusesToAppendToAFileThatIsNotAnAuditLog) {
  TempDir dir;
  const auto path = dir.file("notes.txt");
  std::ofstream(path) << "hello\n";
  try {
    open_audit_log(file_options(path));
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not an audit record"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(path), "hello\n") << "the file is left alone";
}

TEST(AuditWriter, UnopenableSinkThrowsWithThePath) {
  try {
    open_audit_log(file_options("/nonexistent-dir/audit.jsonl"));
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/audit.jsonl"), std::string::npos);
  }
}

// close() waits this long for a failing sink (Options::flush_timeout) before it gives up.
Options failing_options(const std::string& path) {
  Options o = file_options(path);
  o.flush_timeout = std::chrono::milliseconds(200);
  return o;
}

TEST(AuditWriter, DevFullMakesTheLogUnhealthyAndTheCallerHearsFalse) {
  auto log = open_audit_log(failing_options("/dev/full"));
  EXPECT_TRUE(log->healthy());
  std::atomic<int> result{-1};
  log->submit(sample_decision(1), [&](bool written) { result = written ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return result.load() != -1; }));
  EXPECT_EQ(result.load(), 0);
  EXPECT_FALSE(log->healthy());
  EXPECT_GE(log->stats().write_errors, 1u);
  log->close();
  EXPECT_EQ(log->stats().records_written, 0u);
  EXPECT_EQ(log->stats().records_dropped, 1u) << "what could not be written by close is counted";
}

TEST(AuditWriter, StdoutSinkWritesChainedLinesToFd1) {
  TempDir dir;
  const auto capture = dir.file("stdout.jsonl");
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int fd = ::open(capture.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ::dup2(fd, STDOUT_FILENO);
  ::close(fd);
  {
    auto log = open_audit_log(file_options("-"));
    log->submit(sample_decision(1));
    log->submit(sample_decision(2));
    log->reopen();  // a no-op for stdout
    log->close();
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  const auto lines = read_lines(capture);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(parse_object(lines[0]).at("seq").as_int64(), 1);
  EXPECT_TRUE(verify_chain({capture}).ok());
}

TEST(AuditWriter, StdoutWithoutAReaderFailsClosedInsteadOfKillingTheProcess) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);  // nobody will read
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(fds[1], STDOUT_FILENO);
  ::close(fds[1]);
  std::atomic<int> result{-1};
  bool healthy = true;
  {
    auto log = open_audit_log(failing_options("-"));
    log->submit(sample_decision(1), [&](bool w) { result = w ? 1 : 0; });
    eventually([&] { return result.load() != -1; });
    healthy = log->healthy();
    log->close();
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  EXPECT_EQ(result.load(), 0) << "EPIPE is a failed write";
  EXPECT_FALSE(healthy);
}

// A 64 KiB tmpfs on `dir` in a private mount namespace of this (forked) process; false when it
// cannot be set up here.
bool mount_private_tmpfs(const std::string& dir) {
  return ::unshare(CLONE_NEWNS) == 0 &&
         ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         ::mount("egress-audit-test", dir.c_str(), "tmpfs", 0, "size=64k,mode=0700") == 0;
}

// Writes `filler` until the file system is full.
void fill_disk(const std::string& filler) {
  std::ofstream fill(filler, std::ios::binary);
  const std::string block(4096, 'x');
  for (int i = 0; i < 64 && fill; ++i) fill << block << std::flush;
}

// Runs `scenario` in a forked child on a fresh directory: its exit code is the verdict.
void expect_scenario_passes(int (*scenario)(const std::string&)) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private tmpfs";
  TempDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) std::_Exit(scenario(dir.path().string()));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot mount a private tmpfs here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the scenario's message above";
}

// The real thing: the audit file on a tiny tmpfs that fills up, in a private mount namespace of a
// forked child (root only). Exit codes: 0 ok, 77 cannot set up (skip), anything else = failure.
int full_tmpfs_scenario(const std::string& dir) {
  const auto check = [](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "tmpfs scenario: %s\n", what);
      std::_Exit(1);
    }
  };
  if (!mount_private_tmpfs(dir)) return 77;
  const std::string path = dir + "/audit.jsonl";
  const std::string filler = dir + "/filler";
  auto log = open_audit_log(file_options(path));
  log->submit(sample_decision(1));
  check(eventually([&] { return log->stats().records_written == 1; }), "first record written");
  fill_disk(filler);
  // tmpfs allocates whole pages: the audit file's last page still has room for a few records.
  std::uint64_t submitted = 1;
  bool refused = false;
  while (!refused && submitted < 100) {
    std::atomic<int> answer{-1};
    log->submit(sample_decision(++submitted), [&](bool w) { answer = w ? 1 : 0; });
    check(eventually([&] { return answer.load() != -1; }), "record answered");
    refused = answer.load() == 0;
  }
  check(refused, "a write to the full tmpfs is reported as not written");
  check(!log->healthy(), "unhealthy while the tmpfs is full");
  std::filesystem::remove(filler);
  check(eventually([&] { return log->healthy(); }), "healthy again once there is room");
  std::atomic<int> third{-1};
  log->submit(sample_decision(++submitted), [&](bool w) { third = w ? 1 : 0; });
  check(eventually([&] { return third.load() != -1; }), "third record answered");
  check(third.load() == 1, "written after recovery");
  log->close();
  const auto lines = read_lines(path);
  check(lines.size() == submitted, "the failed record is written after recovery, nothing torn");
  check(verify_chain({path}).ok(), "the chain verifies");
  return 0;
}

// Issue 17 item 11: a backlog bigger than the space freed. The writer used to retry the whole
// batch, which never fit: nothing was written until all of it did. Now what fits is written,
// whole lines only, and the rest when there is room.
int partial_room_scenario(const std::string& dir) {
  const auto check = [](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "partial room scenario: %s\n", what);
      std::_Exit(1);
    }
  };
  if (!mount_private_tmpfs(dir)) return 77;
  const std::string path = dir + "/audit.jsonl";
  const std::string filler = dir + "/filler";
  auto log = open_audit_log(file_options(path));
  log->submit(sample_decision(1));
  check(eventually([&] { return log->stats().records_written == 1; }), "first record written");
  const std::size_t line = read_file(path).size();
  fill_disk(filler);
  std::uint64_t submitted = 1;
  bool refused = false;
  while (!refused && submitted < 100) {
    std::atomic<int> answer{-1};
    log->submit(sample_decision(++submitted), [&](bool w) { answer = w ? 1 : 0; });
    check(eventually([&] { return answer.load() != -1; }), "record answered");
    refused = answer.load() == 0;
  }
  check(refused, "a write to the full tmpfs is reported as not written");
  // A backlog of ~24 KiB behind the failed record.
  const std::size_t backlog = 24 * 1024 / line + 1;
  for (std::size_t i = 0; i < backlog; ++i) log->submit(sample_decision(++submitted));
  const std::size_t before = read_lines(path).size();
  // Free 8 KiB (two pages): room for ~8 KiB / line records, not for the backlog.
  check(::truncate(filler.c_str(), static_cast<off_t>(std::filesystem::file_size(filler) - 8192)) ==
            0,
        "filler truncated");
  const std::size_t room = 8192 / line;
  check(eventually([&] { return read_lines(path).size() >= before + room - 1; }),
        "the records that fit into the freed space are written");
  ::usleep(300 * 1000);
  check(!log->healthy(), "still unhealthy: the rest of the backlog does not fit");
  const std::string text = read_file(path);
  check(!text.empty() && text.back() == '\n', "no torn line");
  check(verify_chain({path}).ok(), "the chain verifies with part of the backlog written");
  check(read_lines(path).size() < submitted, "not everything fitted");
  std::filesystem::remove(filler);
  check(eventually([&] { return log->healthy(); }), "healthy again once the backlog fits");
  check(log->stats().queue_depth == 0, "queue empty");
  log->close();
  check(read_lines(path).size() == submitted, "every record written after recovery");
  check(verify_chain({path}).ok(), "the chain verifies");
  check(log->stats().records_dropped == 0, "nothing dropped");
  return 0;
}

TEST(AuditWriter, PartlyFreedTmpfsTakesTheRecordsThatFit) {
  expect_scenario_passes(partial_room_scenario);
}

TEST(AuditWriter, FullTmpfsFailsClosedAndRecovers) {
  expect_scenario_passes(full_tmpfs_scenario);
}

}  // namespace
}  // namespace egress::audit
