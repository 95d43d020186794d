#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace egress::policy {

/// A set of TCP ports as sorted, disjoint, inclusive intervals.
class PortSet {
 public:
  struct Range {
    std::uint16_t lo;
    std::uint16_t hi;
    friend bool operator==(const Range&, const Range&) = default;
  };

  PortSet() = default;
  /// Every port 1-65535.
  static PortSet all();
  /// Adds [lo, hi]; call normalize() afterwards (add does not keep the invariant).
  void add(std::uint16_t lo, std::uint16_t hi) { ranges_.push_back({lo, hi}); }
  void normalize();

  bool contains(std::uint16_t port) const noexcept;
  bool empty() const noexcept { return ranges_.empty(); }
  bool subset_of(const PortSet& other) const;
  PortSet intersect(const PortSet& other) const;
  /// Number of ports in the set.
  std::uint32_t size() const noexcept;
  const std::vector<Range>& ranges() const noexcept { return ranges_; }
  /// "443, 8443-8450"
  std::string to_string() const;
  friend bool operator==(const PortSet&, const PortSet&) = default;

 private:
  std::vector<Range> ranges_;
};

/// Maps ports to the lists of values (clause numbers) whose port sets contain them: elementary
/// intervals over all added ranges, found by binary search.
class PortIndex {
 public:
  void add(const PortSet& ports, std::uint32_t value);
  /// Builds the lookup structure; add() must not be called afterwards.
  void build();
  /// The values whose sets contain `port` (possibly empty).
  const std::vector<std::uint32_t>& lookup(std::uint16_t port) const noexcept;
  bool empty() const noexcept { return pending_.empty() && starts_.empty(); }

 private:
  struct Pending {
    PortSet::Range range;
    std::uint32_t value;
  };
  std::vector<Pending> pending_;
  std::vector<std::uint32_t> starts_;  // elementary interval i = [starts_[i], starts_[i+1])
  std::vector<std::vector<std::uint32_t>> values_;
  std::vector<std::uint32_t> none_;
};

}  // namespace egress::policy
