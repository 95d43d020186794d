#include "audit/chain.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::read_file;
using testing::TempDir;

TEST(LineHasher, IsSha256InLowercaseHex) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  LineHasher h;
  EXPECT_EQ(h.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(h.hex("abc"), sha256_hex("abc")) << "reusable";
  EXPECT_EQ(kGenesisHash.size(), 64u);
}

struct OpenFile {
  explicit OpenFile(const std::string& path) : fd(::open(path.c_str(), O_RDWR)) {}
  ~OpenFile() { ::close(fd); }
  int fd;
};

TEST(ResumeChain, EmptyFileStartsAFreshChain) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  std::ofstream(path).close();
  OpenFile f(path);
  const auto r = resume_chain(f.fd, path);
  EXPECT_TRUE(r.empty);
  EXPECT_EQ(r.state.seq, 0u);
  EXPECT_EQ(r.state.prev, kGenesisHash);
}

TEST(ResumeChain, ContinuesFromTheLastLine) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  const std::string last = R"({"v":1,"seq":8,"prev":"x","event":"gateway.stop"})";
  std::ofstream(path) << R"({"v":1,"seq":7,"prev":"y"})"
                      << "\n"
                      << last << "\n";
  OpenFile f(path);
  const auto r = resume_chain(f.fd, path);
  EXPECT_FALSE(r.empty);
  EXPECT_EQ(r.state.seq, 8u);
  EXPECT_EQ(r.state.prev, sha256_hex(last));
  EXPECT_EQ(r.torn_bytes, 0u);
}

TEST(ResumeChain, ALastLineLongerThanOneReadChunkIsFound) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  const std::string last =
      R"({"v":1,"seq":3,"prev":"x","detail":")" + std::string(200000, 'd') + "\"}";
  std::ofstream(path) << R"({"v":1,"seq":2,"prev":"y"})"
                      << "\n"
                      << last << "\n";
  OpenFile f(path);
  const auto r = resume_chain(f.fd, path);
  EXPECT_EQ(r.state.seq, 3u);
  EXPECT_EQ(r.state.prev, sha256_hex(last));
}

TEST(ResumeChain, CutsATornTail) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  const std::string good = R"({"v":1,"seq":1,"prev":"0"})";
  std::ofstream(path) << good << "\n"
                      << R"({"v":1,"se)";
  OpenFile f(path);
  const auto r = resume_chain(f.fd, path);
  EXPECT_EQ(r.torn_bytes, 10u);  // {"v":1,"se
  EXPECT_EQ(r.state.seq, 1u);
  EXPECT_EQ(read_file(path), good + "\n");
}

TEST(ResumeChain, AFileOfOnlyATornLineBecomesEmpty) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  std::ofstream(path) << R"({"v":1)";
  OpenFile f(path);
  const auto r = resume_chain(f.fd, path);
  EXPECT_TRUE(r.empty);
  EXPECT_EQ(read_file(path), "");
}

TEST(ResumeChain, RefusesALastLineThatIsNotARecord) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  for (const std::string last : {"plain text", R"({"v":1})", R"({"seq":"7"})", R"({"seq":0})"}) {
    std::ofstream(path, std::ios::trunc) << last << "\n";
    OpenFile f(path);
    EXPECT_THROW(resume_chain(f.fd, path), std::runtime_error) << last;
  }
}

}  // namespace
}  // namespace egress::audit
