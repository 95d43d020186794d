#include "audit/verify.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::read_lines;
using testing::sample_decision;
using testing::TempDir;

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.path = path_;
    auto log = open_audit_log(o);
    for (std::uint64_t i = 1; i <= 6; ++i)
      log->submit(sample_decision(i, i % 2 ? "allow" : "deny"));
    log->close();
    lines_ = read_lines(path_);
    ASSERT_EQ(lines_.size(), 6u);
  }

  VerifyResult verify_with(const std::vector<std::string>& lines) {
    write_lines(path_, lines);
    return verify_chain({path_});
  }

  TempDir dir_;
  std::string path_ = dir_.file("audit.jsonl");
  std::vector<std::string> lines_;
};

TEST_F(VerifyTest, IntactChainVerifies) {
  const auto r = verify_chain({path_});
  EXPECT_TRUE(r.ok()) << (r.broken ? r.broken->message : r.error);
  EXPECT_EQ(r.records, 6u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 6u);
  EXPECT_EQ(r.last_hash, sha256_hex(lines_[5]));
  EXPECT_FALSE(r.continues_earlier);
}

TEST_F(VerifyTest, DeletedLineIsMissing) {
  auto lines = lines_;
  lines.erase(lines.begin() + 2);  // seq 3
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::missing);
  EXPECT_EQ(r.broken->seq, 3u);
  EXPECT_EQ(r.broken->line, 3u);
  EXPECT_NE(r.broken->message.find("seq 3 is missing"), std::string::npos) << r.broken->message;
}

TEST_F(VerifyTest, SeveralDeletedLinesAreOneMissingRange) {
  auto lines = lines_;
  lines.erase(lines.begin() + 1, lines.begin() + 4);  // seq 2..4
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::missing);
  EXPECT_NE(r.broken->message.find("seq 2..4 are missing"), std::string::npos) << r.broken->message;
}

TEST_F(VerifyTest, EditedLineIsEdited) {
  auto lines = lines_;
  const auto at = lines[2].find("\"allow\"");
  ASSERT_NE(at, std::string::npos);
  lines[2].replace(at, 7, "\"deny\"");
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::edited);
  EXPECT_EQ(r.broken->seq, 3u);
  EXPECT_EQ(r.broken->line, 3u);
}

TEST_F(VerifyTest, EditedPrevFieldBlamesThatLine) {
  auto lines = lines_;
  const auto at = lines[3].find("\"prev\":\"") + 8;
  lines[3][at] = lines[3][at] == 'a' ? 'b' : 'a';
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::edited);
  EXPECT_EQ(r.broken->seq, 4u);
}

TEST_F(VerifyTest, SwappedLinesAreReordered) {
  auto lines = lines_;
  std::swap(lines[2], lines[3]);
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::reordered);
  EXPECT_EQ(r.broken->seq, 3u);
  EXPECT_NE(r.broken->message.find("appears later"), std::string::npos) << r.broken->message;
}

TEST_F(VerifyTest, DuplicatedLineIsReordered) {
  auto lines = lines_;
  lines.insert(lines.begin() + 3, lines[2]);
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::reordered);
  EXPECT_NE(r.broken->message.find("duplicated"), std::string::npos) << r.broken->message;
}

TEST_F(VerifyTest, GarbageLineIsMalformed) {
  auto lines = lines_;
  lines[4] = "not json";
  const auto r = verify_with(lines);
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->kind, BreakKind::malformed);
  EXPECT_EQ(r.broken->seq, 5u);
}

TEST_F(VerifyTest, WithoutItsFirstLineALogSaysItContinuesAnEarlierFile) {
  auto lines = lines_;
  lines.erase(lines.begin());
  const auto r = verify_with(lines);
  // Seq 2 names seq 1's hash: verify reports that the input does not start the chain.
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.continues_earlier);
  EXPECT_EQ(r.first_seq, 2u);
}

TEST_F(VerifyTest, ChainAcrossFilesAndWrongOrder) {
  const auto first = dir_.file("audit.jsonl.1");
  write_lines(first, {lines_.begin(), lines_.begin() + 3});
  write_lines(path_, {lines_.begin() + 3, lines_.end()});
  auto r = verify_chain({first, path_});
  EXPECT_TRUE(r.ok()) << (r.broken ? r.broken->message : r.error);
  EXPECT_EQ(r.records, 6u);

  r = verify_chain({path_, first});
  ASSERT_TRUE(r.broken);
  EXPECT_EQ(r.broken->file, first);

  // The second file alone continues an earlier one.
  r = verify_chain({path_});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.continues_earlier);
}

TEST_F(VerifyTest, UnreadableFileIsAnError) {
  const auto r = verify_chain({dir_.file("nope.jsonl")});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("nope.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace egress::audit
