#include "policy/port_set.hpp"

#include <algorithm>

namespace egress::policy {

PortSet PortSet::all() {
  PortSet p;
  p.ranges_.push_back({1, 65535});
  return p;
}

void PortSet::normalize() {
  std::sort(ranges_.begin(), ranges_.end(), [](auto a, auto b) { return a.lo < b.lo; });
  std::vector<Range> out;
  for (auto r : ranges_) {
    if (!out.empty() && std::uint32_t{r.lo} <= std::uint32_t{out.back().hi} + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  ranges_ = std::move(out);
}

bool PortSet::contains(std::uint16_t port) const noexcept {
  // Most sets have a handful of ranges: a linear scan beats a binary search there.
  if (ranges_.size() <= 8) {
    for (const auto& r : ranges_) {
      if (port < r.lo) return false;
      if (port <= r.hi) return true;
    }
    return false;
  }
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), port,
                             [](std::uint16_t p, const Range& r) { return p < r.lo; });
  if (it == ranges_.begin()) return false;
  return port <= std::prev(it)->hi;
}

PortSet PortSet::intersect(const PortSet& other) const {
  PortSet out;
  std::size_t i = 0, j = 0;
  while (i < ranges_.size() && j < other.ranges_.size()) {
    const auto lo = std::max(ranges_[i].lo, other.ranges_[j].lo);
    const auto hi = std::min(ranges_[i].hi, other.ranges_[j].hi);
    if (lo <= hi) out.ranges_.push_back({lo, hi});
    if (ranges_[i].hi < other.ranges_[j].hi) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

bool PortSet::subset_of(const PortSet& other) const {
  return intersect(other) == *this;
}

std::uint32_t PortSet::size() const noexcept {
  std::uint32_t n = 0;
  for (auto r : ranges_) n += std::uint32_t{r.hi} - r.lo + 1;
  return n;
}

std::string PortSet::to_string() const {
  std::string s;
  for (auto r : ranges_) {
    if (!s.empty()) s += ", ";
    s += std::to_string(r.lo);
    if (r.hi != r.lo) s += '-' + std::to_string(r.hi);
  }
  return s;
}

void PortIndex::add(const PortSet& ports, std::uint32_t value) {
  for (auto r : ports.ranges()) pending_.push_back({r, value});
}

void PortIndex::build() {
  std::vector<std::uint32_t> bounds{0, 65536};
  for (const auto& p : pending_) {
    bounds.push_back(p.range.lo);
    bounds.push_back(std::uint32_t{p.range.hi} + 1);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  starts_.assign(bounds.begin(), bounds.end() - 1);
  values_.assign(starts_.size(), {});
  for (const auto& p : pending_) {
    auto first = std::lower_bound(starts_.begin(), starts_.end(), std::uint32_t{p.range.lo});
    for (auto it = first; it != starts_.end() && *it <= p.range.hi; ++it) {
      values_[static_cast<std::size_t>(it - starts_.begin())].push_back(p.value);
    }
  }
  pending_.clear();
  pending_.shrink_to_fit();
}

const std::vector<std::uint32_t>& PortIndex::lookup(std::uint16_t port) const noexcept {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), std::uint32_t{port});
  if (it == starts_.begin()) return none_;
  return values_[static_cast<std::size_t>(it - starts_.begin() - 1)];
}

}  // namespace egress::policy
