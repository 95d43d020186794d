#pragma once

// A NameLookup the test scripts: each name gets the answer put in for it (NXDOMAIN when none),
// posted on the test's io_context as the c-ares resolver posts its callbacks.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "resolve/name_lookup.hpp"

namespace egress::filters::testing {

class FakeLookup final : public resolve::NameLookup {
 public:
  explicit FakeLookup(boost::asio::io_context& io) : io_(io) {}

  /// `name` resolves to these addresses (TTL 300 s).
  void answer(const std::string& name, std::initializer_list<const char*> addresses) {
    resolve::Answer a{resolve::Answer::Status::ok, {}, {}};
    for (const char* text : addresses) {
      a.records.push_back({*base::IpAddress::parse(text), std::chrono::seconds(300)});
    }
    script_[name] = std::move(a);
  }
  /// `name` fails this way ("SERVFAIL", ...).
  void fail(const std::string& name, resolve::Answer::Status status, std::string detail) {
    script_[name] = resolve::Answer{status, std::move(detail), {}};
  }

  // NameLookup
  void lookup(const std::string& name, Callback done) override {
    asked.push_back(name);
    auto it = script_.find(name);
    resolve::Answer a = it != script_.end()
                            ? it->second
                            : resolve::Answer{resolve::Answer::Status::nxdomain, "NXDOMAIN", {}};
    boost::asio::post(io_,
                      [done = std::move(done), a = std::move(a)]() mutable { done(std::move(a)); });
  }

  std::vector<std::string> asked;  ///< every name looked up, in order

 private:
  boost::asio::io_context& io_;
  std::map<std::string, resolve::Answer> script_;
};

}  // namespace egress::filters::testing
