#include "audit/record_reader.hpp"

#include <gtest/gtest.h>

#include "audit/audit_log.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::read_lines;
using testing::TempDir;

void write_log(const std::string& path, int n) {
  Options o;
  o.path = path;
  auto log = open_audit_log(o);
  for (int i = 1; i <= n; ++i) log->submit(testing::sample_decision(static_cast<std::uint64_t>(i)));
  log->close();
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

TEST(RecordReader, EveryRecordOnceWithTheChainChecked) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  write_log(path, 5);
  RecordReader r({path}, true);
  std::vector<std::int64_t> seqs;
  while (const auto* rec = r.next()) seqs.push_back(static_cast<std::int64_t>(rec->seq));
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.chain().records, 5u);
  EXPECT_EQ(r.chain().last_seq, 5u);
}

TEST(RecordReader, StopsAtABreakNamingFileAndLine) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  write_log(path, 5);
  auto lines = read_lines(path);
  lines.erase(lines.begin() + 2);  // seq 3
  write_lines(path, lines);
  RecordReader r({path}, true);
  int n = 0;
  while (r.next() != nullptr) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_FALSE(r.complete());
  ASSERT_TRUE(r.chain().broken);
  EXPECT_EQ(r.chain().broken->kind, BreakKind::missing);
  EXPECT_EQ(r.chain().broken->line, 3u);
  EXPECT_EQ(r.chain().broken->file, path);
}

TEST(RecordReader, WithoutVerificationSkipsWhatIsNotJson) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  write_log(path, 3);
  auto lines = read_lines(path);
  lines.insert(lines.begin() + 1, "not json");
  lines.erase(lines.begin() + 2);  // and a deleted record
  write_lines(path, lines);
  RecordReader r({path}, false);
  int n = 0;
  while (r.next() != nullptr) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_EQ(r.malformed(), 1u);
  EXPECT_TRUE(r.complete());
  RecordReader verified({path}, true);
  EXPECT_NE(verified.next(), nullptr);
  EXPECT_EQ(verified.next(), nullptr);
  EXPECT_EQ(verified.chain().broken->kind, BreakKind::malformed);
}

}  // namespace
}  // namespace egress::audit
