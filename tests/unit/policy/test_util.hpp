#pragma once

#include <string>
#include <vector>

#include "base/ip_address.hpp"
#include "clock/rfc3339.hpp"
#include "policy/facts.hpp"
#include "policy/loader.hpp"
#include "policy/policy.hpp"

namespace egress::policy::testing {

/// Settings used by most tests: default deny, non_public denied.
inline constexpr const char* kSettings = R"(kind: Settings
default: deny
deny_destinations: [builtin:non_public]
)";

/// Loads one in-memory file "p.yaml" (plus Settings unless the text has its own).
inline LoadResult load_text(const std::string& text, bool with_settings = true) {
  std::vector<SourceFile> files;
  if (with_settings) files.push_back({"00-settings.yaml", kSettings});
  files.push_back({"p.yaml", text});
  return load_policy_sources(files);
}

/// Every error, one line each.
inline std::string errors_of(const LoadResult& r) {
  std::string s;
  for (const auto& d : r.errors) s += d.to_string() + "\n";
  return s;
}

inline std::chrono::system_clock::time_point at(const char* rfc3339) {
  return *clock::parse_rfc3339(rfc3339);
}

/// Facts for a connection: src, "ip:port", optional identity.
struct Conn {
  base::IpAddress src;
  base::Endpoint dst;
  base::Identity identity;
  bool has_identity = false;
  std::chrono::system_clock::time_point now = at("2026-01-01T00:00:00Z");
  std::string host_name;
  NameVerification verification = NameVerification::not_checked;

  Conn(const char* s, const char* d)
      : src(*base::IpAddress::parse(s)), dst(*base::Endpoint::parse(d)) {}
  Conn& id(std::string spiffe) {
    identity.uri_sans.push_back(spiffe);
    identity.spiffe_id = std::move(spiffe);
    has_identity = true;
    return *this;
  }
  Conn& dns(std::string name) {
    identity.dns_sans.push_back(std::move(name));
    has_identity = true;
    return *this;
  }
  Conn& cn(std::string name) {
    identity.common_name = std::move(name);
    has_identity = true;
    return *this;
  }
  Conn& when(const char* t) {
    now = at(t);
    return *this;
  }
  /// The name the client sent and what its verification found.
  Conn& host(std::string name, NameVerification v = NameVerification::match) {
    host_name = std::move(name);
    verification = v;
    return *this;
  }
  ConnectionFacts facts() const {
    return {src, dst.address, dst.port,    has_identity ? &identity : nullptr,
            now, host_name,   verification};
  }
};

}  // namespace egress::policy::testing
