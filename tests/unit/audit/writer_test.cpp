#include "audit/audit_log.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "audit/chain.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::parse_object;
using testing::read_lines;
using testing::sample_decision;
using testing::TempDir;

Options file_options(const std::string& path) {
  Options o;
  o.path = path;
  return o;
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
    EXPECT_EQ(obj.at("conn_id").to_number<std::uint64_t>(), i + 1);
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

}  // namespace
}  // namespace egress::audit
