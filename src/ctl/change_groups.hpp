#pragma once

// `policy replay`'s differences, grouped by (client, destination, host, old → new) with counts
// and first / last seen, in a table of bounded size: past it, new groups are only counted.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace egress::ctl {

/// What a difference does: allow → deny, deny → allow, or the same decision by another rule.
enum class ChangeKind : std::uint8_t { tighten, widen, rule_changed };

/// "tighten" | "widen" | "rule_changed"
std::string_view to_string(ChangeKind kind) noexcept;

/// One side of a difference: the decision and the rule that made it (empty: none).
struct DecisionSide {
  std::string decision;
  std::string rule;
  bool operator==(const DecisionSide&) const = default;
};

/// The kind of the difference from `before` to `after`; false when they are the same.
bool classify(const DecisionSide& before, const DecisionSide& after, ChangeKind& kind);

/// One group of records that changed the same way.
struct ChangeGroup {
  ChangeKind kind = ChangeKind::tighten;
  std::string client;  ///< identity, else address
  std::string dst;     ///< "IP:PORT", IPv6 in brackets
  std::string host;    ///< empty: unknown or none
  DecisionSide before;
  DecisionSide after;
  std::uint64_t count = 0;
  std::chrono::system_clock::time_point first;
  std::chrono::system_clock::time_point last;
  std::string first_seen;  ///< RFC 3339, as recorded
  std::string last_seen;
};

/// Groups differences. Holds at most `max_groups` groups; a difference of a group it has no
/// room for is counted in more_groups() / more_records() (distinct groups counted exactly up to
/// 100,000; past that more_groups() is a lower bound).
class ChangeTable {
 public:
  explicit ChangeTable(std::size_t max_groups) : max_groups_(max_groups) {}

  void add(ChangeKind kind, std::string_view client, std::string_view dst, std::string_view host,
           const DecisionSide& before, const DecisionSide& after,
           std::chrono::system_clock::time_point ts, std::string_view ts_text);

  /// The groups: tighten, then widen, then rule_changed; within a kind the largest first.
  std::vector<ChangeGroup> groups() const;
  /// Groups not held (the "and N more groups" line) and their records.
  std::uint64_t more_groups() const noexcept { return more_keys_.size(); }
  std::uint64_t more_records() const noexcept { return more_records_; }

 private:
  std::size_t max_groups_;
  std::unordered_map<std::string, ChangeGroup> groups_;
  std::unordered_set<std::uint64_t> more_keys_;
  std::uint64_t more_records_ = 0;
};

}  // namespace egress::ctl
