// `egressctl audit verify|summary` as a user runs it: real files, exit codes, messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>

#include "audit/audit_log.hpp"
#include "run_command.hpp"
#include "test_util.hpp"

#ifndef EGRESSCTL_PATH
#error "EGRESSCTL_PATH must name the egressctl binary"
#endif

namespace egress::audit {
namespace {

using testing::read_lines;
using testing::sample_decision;
using testing::TempDir;

using Run = audit::testing::CommandRun;

Run egressctl(const std::string& args) {
  return audit::testing::run_command(EGRESSCTL_PATH, args);
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class EgressctlAudit : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.path = path_;
    auto log = open_audit_log(o);
    for (std::uint64_t i = 1; i <= 6; ++i)
      log->submit(sample_decision(i, i <= 4 ? "deny" : "allow"));
    log->close();
    lines_ = read_lines(path_);
    ASSERT_EQ(lines_.size(), 6u);
  }
  TempDir dir_;
  std::string path_ = dir_.file("audit.jsonl");
  std::vector<std::string> lines_;
};

TEST_F(EgressctlAudit, VerifyPassesOnAnIntactLog) {
  const auto r = egressctl("audit verify " + path_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "OK: 6 record(s), seq 1..6 in 1 file(s)")) << r.output;
  EXPECT_TRUE(contains(r.output, "last hash ")) << r.output;
}

TEST_F(EgressctlAudit, VerifyCatchesADeletedLine) {
  auto lines = lines_;
  lines.erase(lines.begin() + 3);
  write_lines(path_, lines);
  const auto r = egressctl("audit verify " + path_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "BROKEN at seq 4 (missing)")) << r.output;
  EXPECT_TRUE(contains(r.output, path_ + ":4: seq 4 is missing")) << r.output;
}

TEST_F(EgressctlAudit, VerifyCatchesAnEditedLine) {
  auto lines = lines_;
  const auto at = lines[1].find("\"deny\"");
  ASSERT_NE(at, std::string::npos);
  lines[1].replace(at, 6, "\"allow\"");
  write_lines(path_, lines);
  const auto r = egressctl("audit verify " + path_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "BROKEN at seq 2 (edited)")) << r.output;
  EXPECT_TRUE(contains(r.output, path_ + ":2: seq 2 was edited")) << r.output;
}

TEST_F(EgressctlAudit, VerifyCatchesSwappedLines) {
  auto lines = lines_;
  std::swap(lines[4], lines[5]);
  write_lines(path_, lines);
  const auto r = egressctl("audit verify " + path_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "BROKEN at seq 5 (reordered)")) << r.output;
  EXPECT_TRUE(contains(r.output, "seq 5 appears later at " + path_ + ":6")) << r.output;
}

TEST_F(EgressctlAudit, VerifyFollowsTheChainAcrossRotatedFiles) {
  const auto older = dir_.file("audit.jsonl.1");
  write_lines(older, {lines_.begin(), lines_.begin() + 2});
  write_lines(path_, {lines_.begin() + 2, lines_.end()});
  auto r = egressctl("audit verify " + older + " " + path_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "OK: 6 record(s), seq 1..6 in 2 file(s)")) << r.output;
  r = egressctl("audit verify " + path_ + " " + older);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "BROKEN")) << r.output;
}

TEST_F(EgressctlAudit, VerifyOfAMissingFileFails) {
  const auto r = egressctl("audit verify " + dir_.file("absent.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "cannot open " + dir_.file("absent.jsonl") + ": No such file or directory"))
      << r.output;
}

TEST_F(EgressctlAudit, SummaryCountsDecisionsReasonsAndTopLists) {
  const auto r = egressctl("audit summary " + path_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "records: 6\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "decisions: allow=2 deny=4\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "reasons: allow/rule=2 deny/default=4\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "  4  src:192.0.2.2\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "  4  203.0.113.10:443\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "  2  payments-to-card-networks (allow 2, deny 0)\n")) << r.output;
}

TEST_F(EgressctlAudit, SummaryJsonAndTimeFilters) {
  auto r = egressctl("audit summary --json " + path_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = boost::json::parse(r.output).as_object();
  EXPECT_EQ(j.at("records").as_int64(), 6);
  EXPECT_EQ(j.at("decisions").at("deny").as_int64(), 4);
  EXPECT_EQ(j.at("top_denied_destinations").as_array()[0].at("destination").as_string(),
            "203.0.113.10:443");

  r = egressctl("audit summary --json --until 2000-01-01 " + path_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = boost::json::parse(r.output).as_object();
  EXPECT_EQ(j.at("records").as_int64(), 0);
  EXPECT_EQ(j.at("out_of_range").as_int64(), 6);

  r = egressctl("audit summary --json --since 2000-01-01T00:00:00+02:00 " + path_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(boost::json::parse(r.output).at("records").as_int64(), 6);

  r = egressctl("audit summary --since yesterday " + path_);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "invalid time 'yesterday'")) << r.output;
}

}  // namespace
}  // namespace egress::audit
