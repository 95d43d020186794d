#pragma once

// Helpers shared by the audit unit tests: temp dirs, reading a file's lines, sample records.

#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "audit/record.hpp"

namespace egress::audit::testing {

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "egress-audit-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline boost::json::object parse_object(const std::string& line) {
  return boost::json::parse(line).as_object();
}

/// The counter of a record's conn_id ("<instance>-<counter>"), checking its form.
inline std::uint64_t conn_counter(const boost::json::object& record) {
  const std::string id(record.at("conn_id").as_string());
  const auto dash = id.find('-');
  EXPECT_EQ(dash, 16u) << id;
  if (dash == std::string::npos) return 0;
  return std::stoull(id.substr(dash + 1));
}

inline Record sample_decision(std::uint64_t conn_id, std::string decision = "allow") {
  ConnectionDecision d;
  d.conn_id = conn_id;
  d.listener = "outbound";
  d.src = *base::Endpoint::parse("192.0.2.2:40000");
  d.dst = *base::Endpoint::parse("203.0.113.10:443");
  d.decision = std::move(decision);
  d.reason = d.decision == "allow" ? "rule" : "default";
  if (d.decision == "allow") d.rule = "payments-to-card-networks";
  d.policy_version = "3f2a";
  return Record{Clock::now(), d};
}

}  // namespace egress::audit::testing

namespace egress::audit::testing {

/// Polls `pred` until it holds or ~20 s pass (a safety net against hangs, not a timing claim).
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    ::usleep(10 * 1000);
  }
  return pred();
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace egress::audit::testing
