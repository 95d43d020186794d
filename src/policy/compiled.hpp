#pragma once

// Internal: the compiled form of a policy (policy/policy.hpp owns one). Each rule becomes
// clauses (one per from-entry x to-entry); each role member one clause. Every clause is filed
// under one "anchor" (its most selective field: an exact string in a hash map, a prefix in a
// longest-prefix table, a pattern of an RE2::Set, a role, a port interval), so an evaluation
// looks only at the clauses whose anchor the connection hits and checks their other fields.
//
// A clause of a `to:` entry with `hosts` is always filed under its names (a hash of exact names,
// a hash of wildcard suffixes probed once per dot of the client's name), so 10,000 hostname rules
// cost a decision a few lookups. A copy of it, without the names, sits in `name_table` under the
// usual anchors: may_depend_on_name walks that table to ask "could any hostname rule match this
// client, address and port?".

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "policy/address_set.hpp"
#include "policy/cidr_index.hpp"
#include "policy/facts.hpp"
#include "policy/flat_string_map.hpp"
#include "policy/packed_sets.hpp"
#include "policy/port_set.hpp"
#include "policy/string_pattern.hpp"

namespace egress::policy::detail {

inline constexpr std::int32_t kNone = -1;

/// An identity / dns_name / common_name condition.
struct StringAtom {
  PatternKind kind = PatternKind::exact;
  std::string text;
  int pattern = -1;  ///< number in the field's PatternSet when kind == regex
  /// Identity globs "prefix/*" and "prefix/**" skip RE2: a hash lookup per '/' of the ID finds
  /// them. Their number in Compiled's prefix-glob numbering, or -1.
  int prefix_glob = -1;
};

/// Rule categories in the order the engine consults them.
enum Category : std::uint8_t { deny_enforce, deny_report, allow_enforce, allow_report };

/// A conjunction of conditions; kNone = not constrained. A rule's category and expiry are
/// copied into each of its clauses, so a candidate is judged from the clause alone.
struct Clause {
  std::uint32_t owner = 0;  ///< rule number (file order) or role number
  std::int32_t identity = kNone;
  std::int32_t dns = kNone;
  std::int32_t cn = kNone;
  std::int32_t role = kNone;
  std::int32_t src = kNone;    ///< address set: offset in Compiled::sets
  std::int32_t dst = kNone;    ///< address set: offset in Compiled::sets
  std::int32_t ports = kNone;  ///< port set: offset in Compiled::sets
  /// Rule clauses: system_clock ticks since epoch after which the rule never matches
  /// (INT64_MAX when it never expires), and the rule's category.
  std::int64_t expires_ns = std::numeric_limits<std::int64_t>::max();
  Category category = allow_enforce;
  /// The clause came from a `to:` entry with `hosts` (its names are checked by the anchor that
  /// found it): an allow clause of this kind needs a verified name under host_verification strict.
  bool needs_name = false;
};

using StringIndex = FlatStringMap<std::vector<std::uint32_t>>;
using StringIds = FlatStringMap<int>;

/// Clauses with their anchor indexes.
struct ClauseTable {
  std::vector<Clause> clauses;
  StringIndex identity_exact;
  StringIndex dns_exact;
  StringIndex dns_suffix;  ///< "example.com" for *.example.com
  StringIndex cn_exact;
  StringIndex host_exact;   ///< "api.stripe.com" of `hosts`
  StringIndex host_suffix;  ///< "example.com" for `hosts: ["*.example.com"]`
  std::vector<std::vector<std::uint32_t>> identity_pattern;  ///< by identity pattern number
  std::vector<std::vector<std::uint32_t>> identity_prefix;   ///< by prefix-glob number
  std::vector<std::vector<std::uint32_t>> cn_pattern;        ///< by cn pattern number
  std::vector<std::vector<std::uint32_t>> by_role;           ///< by role number
  CidrIndex src;
  CidrIndex dst;
  PortIndex ports;
  std::vector<std::uint32_t> unanchored;
};

/// Per-thread, per-evaluation working memory: reused between calls so that a steady state
/// allocates nothing.
struct Scratch {
  /// The identity's URI values (see engine.cpp) with their FlatStringMap hashes: each is looked
  /// up in the role table and then in the rule table.
  std::vector<std::pair<std::string_view, std::size_t>> uris;
  std::vector<int> identity_hits;
  std::vector<int> prefix_hits;  ///< prefix-glob numbers matched by the identity
  std::vector<int> cn_hits;
  std::vector<std::string> dns;  ///< normalised DNS SANs; the first dns_count are current
  std::size_t dns_count = 0;
  std::string host;  ///< the client's name, normalised
  std::vector<std::uint32_t> roles;
};

struct Compiled {
  std::vector<StringAtom> identity_atoms;
  std::vector<StringAtom> dns_atoms;
  std::vector<StringAtom> cn_atoms;
  PatternSet identity_patterns;
  StringIds segment_globs;  ///< "spiffe://td/ns/x/" for ".../ns/x/*": one more non-empty segment
  StringIds subtree_globs;  ///< "spiffe://td/ns/x/" for ".../ns/x/**": one or more segments
  int prefix_glob_count = 0;
  /// Lengths of the prefixes above (bit n = some prefix is n bytes long; longer ones share the
  /// last bit), so most '/' of an ID cost no hash lookup.
  std::vector<bool> prefix_lengths;
  PatternSet cn_patterns;
  PackedSets sets;
  ClauseTable role_table;  ///< clause owner = role number
  ClauseTable rule_table;  ///< clause owner = rule number
  /// The rule clauses with `hosts`, without the names (owner = rule number): see above.
  ClauseTable name_table;
  AddressSet deny_set;  ///< deny_destinations minus deny_exceptions
  Action default_action = Action::deny;
  bool report_mode = false;
  HostVerification host_verification = HostVerification::strict;
  std::size_t role_count = 0;
};

}  // namespace egress::policy::detail
