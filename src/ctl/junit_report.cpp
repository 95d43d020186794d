#include "ctl/junit_report.hpp"

#include <algorithm>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace egress::ctl {

void JunitReport::add_case(const std::string& file, const std::string& name,
                           std::optional<std::string> failure, const std::string& detail) {
  auto it =
      std::find_if(suites_.begin(), suites_.end(), [&](const Suite& s) { return s.file == file; });
  if (it == suites_.end()) it = suites_.insert(suites_.end(), Suite{file, {}});
  it->cases.push_back({name, std::move(failure), detail});
}

std::optional<std::string> JunitReport::write(const std::string& path) const {
  namespace pt = boost::property_tree;
  pt::ptree root;
  pt::ptree& suites = root.add_child("testsuites", {});
  std::size_t total = 0, total_failed = 0;
  for (const Suite& s : suites_) {
    pt::ptree suite;
    std::size_t failed = 0;
    for (const Case& c : s.cases) {
      pt::ptree tc;
      tc.put("<xmlattr>.name", c.name);
      tc.put("<xmlattr>.classname", s.file);
      if (c.failure) {
        ++failed;
        pt::ptree f(c.detail);
        f.put("<xmlattr>.message", *c.failure);
        f.put("<xmlattr>.type", "PolicyTestFailure");
        tc.add_child("failure", f);
      }
      suite.add_child("testcase", tc);
    }
    suite.put("<xmlattr>.name", s.file);
    suite.put("<xmlattr>.tests", s.cases.size());
    suite.put("<xmlattr>.failures", failed);
    suite.put("<xmlattr>.errors", 0);
    suites.add_child("testsuite", suite);
    total += s.cases.size();
    total_failed += failed;
  }
  suites.put("<xmlattr>.name", "egressctl policy test");
  suites.put("<xmlattr>.tests", total);
  suites.put("<xmlattr>.failures", total_failed);
  suites.put("<xmlattr>.errors", 0);

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return "cannot write " + path + ": " + std::strerror(errno);
  pt::write_xml(out, root, pt::xml_writer_make_settings<std::string>(' ', 2));
  out.close();
  if (!out) return "cannot write " + path + ": " + std::strerror(errno);
  return std::nullopt;
}

}  // namespace egress::ctl
