#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "policy/address_set.hpp"

namespace egress::policy {

/// Longest-prefix structure for one address family. Prefixes form a laminar family (any two are
/// nested or disjoint), so they are kept sorted by first address with a parent link to the
/// nearest enclosing prefix: a lookup is one search for the last prefix starting at or before
/// the key plus a walk up the (short) chain of enclosing prefixes, visiting the deepest matching
/// prefix first.
template <class K>
class PrefixTable {
 public:
  /// Adds `value` under the prefix [lo, hi]; call build() before lookups.
  void add(K lo, K hi, std::uint32_t value) { pending_.push_back({lo, hi, value}); }
  void build();
  bool empty() const noexcept { return lo_.empty(); }

  /// Calls f(value) for every value stored under a prefix containing `key`, deepest first.
  template <class F>
  void for_each_match(K key, F&& f) const noexcept(noexcept(f(std::uint32_t{}))) {
    // Last prefix starting at or before key: if it does not contain key, its nearest enclosing
    // prefix that does is the longest match (laminar family).
    std::int32_t i = last_starting_at_or_before(key);
    while (i >= 0 && key > nodes_[static_cast<std::size_t>(i)].hi) {
      i = nodes_[static_cast<std::size_t>(i)].parent;
    }
    while (i >= 0) {
      const Node& n = nodes_[static_cast<std::size_t>(i)];
      for (std::uint32_t p = n.begin; p < n.end; ++p) f(values_[p]);
      i = n.parent;
    }
  }

  /// The longest prefix containing `key` as an index into this table, or -1.
  std::int32_t longest_match(K key) const noexcept;

 private:
  struct Pending {
    K lo;
    K hi;
    std::uint32_t value;
  };
  /// lo_ is searched in two steps: a binary search over top_ (the first key of each cache line
  /// of lo_, small enough to stay cached) picks the line, a search within the line the index.
  /// A search of lo_ alone would miss the cache at each of its last steps in a large table.
  static constexpr std::size_t kLine = 64 / sizeof(K);

  std::int32_t last_starting_at_or_before(K key) const noexcept {
    const auto line = std::upper_bound(top_.begin(), top_.end(), key) - top_.begin();
    if (line == 0) return -1;  // every prefix starts after key
    std::size_t i = static_cast<std::size_t>(line - 1) * kLine;
    const std::size_t end = std::min(i + kLine, lo_.size());
    while (i + 1 < end && lo_[i + 1] <= key) ++i;
    return static_cast<std::int32_t>(i);
  }

  std::vector<Pending> pending_;
  std::vector<K> top_;  ///< lo_[0], lo_[kLine], lo_[2 * kLine], ...
  // What a lookup touches after the search of lo_, in one place.
  struct Node {
    K hi;
    std::int32_t parent;  ///< nearest enclosing prefix, or -1
    std::uint32_t begin;  ///< values of this prefix: values_[begin, end)
    std::uint32_t end;
  };
  std::vector<K> lo_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> values_;
};

/// Longest-prefix structure for both families, keyed by Cidr.
class CidrIndex {
 public:
  void add(const Cidr& cidr, std::uint32_t value);
  void build();
  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }

  /// Calls f(value) for every value stored under a prefix containing `a`, deepest first.
  template <class F>
  void for_each_match(const base::IpAddress& a, F&& f) const {
    if (a.is_v4()) {
      v4_.for_each_match(v4_key(a), f);
    } else {
      v6_.for_each_match(v6_key(a), f);
    }
  }

 private:
  PrefixTable<std::uint32_t> v4_;
  PrefixTable<U128> v6_;
};

}  // namespace egress::policy
