#include "check_audit_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace egress::cli {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "egress-audit-check-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() {
    fs::permissions(path, fs::perms::owner_all);
    fs::remove_all(path);
  }
};

TEST(CheckAuditPath, StdoutNeedsNothing) {
  EXPECT_EQ(check_audit_path("-"), std::nullopt);
}

TEST(CheckAuditPath, WritableDirectoryIsFine) {
  TempDir d;
  EXPECT_EQ(check_audit_path((d.path / "audit.jsonl").string()), std::nullopt);
  std::ofstream((d.path / "audit.jsonl").string()) << "";
  EXPECT_EQ(check_audit_path((d.path / "audit.jsonl").string()), std::nullopt);
}

TEST(CheckAuditPath, MissingDirectoryNamesItAndWhy) {
  TempDir d;
  const std::string path = (d.path / "nope" / "audit.jsonl").string();
  const auto error = check_audit_path(path);
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "audit.path " + path + ": directory " + (d.path / "nope").string() +
                        ": No such file or directory");
}

TEST(CheckAuditPath, DirectoryThatIsAFile) {
  TempDir d;
  std::ofstream((d.path / "file").string()) << "";
  const auto error = check_audit_path((d.path / "file" / "audit.jsonl").string());
  ASSERT_TRUE(error);
  EXPECT_NE(error->find(": Not a directory"), std::string::npos) << *error;
}

TEST(CheckAuditPath, UnwritableDirectoryForANonRootUser) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere (tests/e2e/check_config_audit.py)";
  TempDir d;
  fs::permissions(d.path, fs::perms::owner_read | fs::perms::owner_exec);
  const auto error = check_audit_path((d.path / "audit.jsonl").string());
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("cannot create files in it: Permission denied"), std::string::npos)
      << *error;
}

}  // namespace
}  // namespace egress::cli
