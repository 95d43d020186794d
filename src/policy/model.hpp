#pragma once

// The policy as written: plain structs produced by the loader, with the position of everything
// a later message may need to point at. Validated (references resolved, no duplicates) by the
// loader before the compiler sees it.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/ip_address.hpp"
#include "policy/address_set.hpp"
#include "policy/facts.hpp"
#include "policy/host_pattern.hpp"
#include "policy/port_set.hpp"
#include "policy/string_pattern.hpp"
#include "yaml/position.hpp"

namespace egress::policy::model {

using TimePoint = std::chrono::system_clock::time_point;

/// A place in a policy file (1-based line and column): the YAML reader's.
using Position = yaml::Position;

/// One entry of `from:` or of a Role's `members:` (fields AND-ed).
struct PrincipalEntry {
  Position pos;
  bool any = false;
  std::optional<StringPattern> identity;
  std::optional<StringPattern> dns_name;
  std::optional<StringPattern> common_name;
  std::optional<std::vector<Cidr>> source;  ///< OR of prefixes
  std::optional<std::string> role;
  Position role_pos;
};

/// One entry of `to:` (fields AND-ed).
struct DestinationEntry {
  Position pos;
  bool any = false;
  std::optional<std::vector<Cidr>> cidrs;
  std::vector<Cidr> except;
  std::optional<PortSet> ports;
  std::optional<std::string> destination;
  Position destination_pos;
  std::optional<std::vector<HostPattern>> hosts;  ///< OR of names; absent = any name or none
};

struct Settings {
  Position pos;
  Action default_action = Action::deny;
  bool report_mode = false;
  std::vector<Cidr> deny_destinations;
  std::vector<Cidr> deny_exceptions;
  HostVerification host_verification = HostVerification::strict;
};

struct Role {
  Position pos;
  std::string name;
  std::vector<PrincipalEntry> members;
};

struct Destination {
  Position pos;
  std::string name;
  std::optional<std::vector<Cidr>> cidrs;
  std::vector<Cidr> except;
  std::optional<PortSet> ports;
  std::optional<std::vector<HostPattern>> hosts;
};

struct Rule {
  Position pos;  ///< of the document (its `kind`)
  std::string id;
  Action action = Action::deny;
  bool report = false;  ///< mode: report
  std::vector<PrincipalEntry> from;
  std::vector<DestinationEntry> to;
  std::optional<TimePoint> expires;
  Position expires_pos;
  std::string description;
};

/// One case of a `kind: PolicyTest` document.
struct TestCase {
  Position pos;
  std::string name;
  base::IpAddress src;
  base::Endpoint dst;
  std::string identity;
  std::vector<std::string> dns_names;
  std::string cn;
  std::string host;  ///< the name the client sent; empty = none
  /// The DNS answers to assume for `host`; absent = the name does not resolve.
  std::optional<std::vector<base::IpAddress>> resolves_to;
  bool ech = false;  ///< the ClientHello had ECH (the name is the outer SNI)
  std::optional<TimePoint> at;
  Action expect = Action::deny;
  std::optional<std::string> rule;
  std::optional<Action> shadow;
};

/// Everything found in a policy directory, in file order.
struct Model {
  std::optional<Settings> settings;
  std::vector<Role> roles;
  std::vector<Destination> destinations;
  std::vector<Rule> rules;
  std::vector<TestCase> tests;
};

}  // namespace egress::policy::model
