#include "audit/line_reader.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::TempDir;

void write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

void write_gz(const std::string& path, const std::string& data) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, data.data(), static_cast<unsigned>(data.size())),
            static_cast<int>(data.size()));
  gzclose(gz);
}

struct Line {
  std::string text;
  std::string file;
  std::size_t number;
};

std::vector<Line> read_all(LineReader& r) {
  std::vector<Line> out;
  for (std::string_view l; r.next(l);) out.push_back({std::string(l), r.file(), r.line_number()});
  return out;
}

TEST(LineReader, PlainAndGzipFilesInOrderWithTheirLineNumbers) {
  TempDir dir;
  const auto gz = dir.file("audit.jsonl.2.gz");
  const auto plain = dir.file("audit.jsonl.1");
  write_gz(gz, "a\nb\n");
  write(plain, "c\n\nd");  // an empty line, and a last line without newline
  LineReader r({gz, plain});
  const auto lines = read_all(r);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_EQ(lines[1].file, gz);
  EXPECT_EQ(lines[1].number, 2u);
  EXPECT_EQ(lines[2].text, "c");
  EXPECT_EQ(lines[2].file, plain);
  EXPECT_EQ(lines[2].number, 1u);
  EXPECT_EQ(lines[3].text, "");
  EXPECT_EQ(lines[4].text, "d");
  EXPECT_EQ(lines[4].number, 3u);
  EXPECT_TRUE(r.error().empty());
}

TEST(LineReader, LinesLongerThanItsBufferAndManyOfThem) {
  TempDir dir;
  const std::string long_line(700 * 1024, 'x');
  std::string data = "first\n" + long_line + "\n";
  for (int i = 0; i < 20000; ++i) data += std::to_string(i) + "\n";
  write_gz(dir.file("big.gz"), data);
  LineReader r({dir.file("big.gz")});
  const auto lines = read_all(r);
  ASSERT_EQ(lines.size(), 20002u);
  EXPECT_EQ(lines[1].text, long_line);
  EXPECT_EQ(lines[20001].text, "19999");
  EXPECT_EQ(lines[20001].number, 20002u);
}

TEST(LineReader, StartsAtAGivenFileAndLine) {
  TempDir dir;
  write(dir.file("1"), "a\nb\n");
  write(dir.file("2"), "c\nd\ne\n");
  LineReader r({dir.file("1"), dir.file("2")}, 1, 2);
  const auto lines = read_all(r);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "d");
  EXPECT_EQ(lines[0].number, 2u);
}

TEST(LineReader, NamesAFileItCannotOpenOrDecompress) {
  TempDir dir;
  write(dir.file("ok"), "a\n");
  LineReader r({dir.file("ok"), dir.file("missing")});
  EXPECT_EQ(read_all(r).size(), 1u);
  EXPECT_EQ(r.error(), "cannot open " + dir.file("missing") + ": No such file or directory");

  // A gzip stream cut short: an error naming the file, never a silent end.
  write_gz(dir.file("cut.gz"), std::string(100000, 'y') + "\n");
  auto data = testing::read_file(dir.file("cut.gz"));
  write(dir.file("cut.gz"), data.substr(0, data.size() / 2));
  LineReader cut({dir.file("cut.gz")});
  read_all(cut);
  EXPECT_NE(cut.error().find(dir.file("cut.gz")), std::string::npos) << cut.error();
}

}  // namespace
}  // namespace egress::audit
