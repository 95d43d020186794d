#pragma once

// `egressctl policy test --junit FILE`: the PolicyTest results as a JUnit XML report, the format
// CI systems (GitLab, Jenkins, GitHub test reporters) show per test.

#include <optional>
#include <string>
#include <vector>

namespace egress::ctl {

/// Collects test cases, one <testsuite> per test file (in the order files first appear), one
/// <testcase> per case, and writes them as JUnit XML. The XML is written by Boost.PropertyTree,
/// which escapes names and messages.
class JunitReport {
 public:
  /// One case of test file `file`; `failure` is its failure message (nullopt: passed) and
  /// `detail` the failure element's text (the line egressctl printed).
  void add_case(const std::string& file, const std::string& name,
                std::optional<std::string> failure = std::nullopt, const std::string& detail = {});

  /// Writes <testsuites> to `path` (replacing it). nullopt on success, else why not (the path
  /// and the system's reason).
  std::optional<std::string> write(const std::string& path) const;

 private:
  struct Case {
    std::string name;
    std::optional<std::string> failure;
    std::string detail;
  };
  struct Suite {
    std::string file;
    std::vector<Case> cases;
  };
  std::vector<Suite> suites_;
};

}  // namespace egress::ctl
