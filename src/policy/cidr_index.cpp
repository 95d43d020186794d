#include "policy/cidr_index.hpp"

#include <algorithm>

namespace egress::policy {

template <class K>
void PrefixTable<K>::build() {
  // Sort by first address, then outermost first (larger last address), so parents precede
  // children and equal prefixes are adjacent.
  std::sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
    if (a.lo != b.lo) return a.lo < b.lo;
    if (a.hi != b.hi) return a.hi > b.hi;
    return a.value < b.value;
  });
  lo_.clear();
  nodes_.clear();
  values_.clear();
  std::vector<std::int32_t> stack;  // chain of enclosing prefixes of the current one
  for (const Pending& p : pending_) {
    const bool same_prefix = !lo_.empty() && lo_.back() == p.lo && nodes_.back().hi == p.hi;
    if (!same_prefix) {
      while (!stack.empty() && nodes_[static_cast<std::size_t>(stack.back())].hi < p.lo) {
        stack.pop_back();
      }
      const std::int32_t parent = stack.empty() ? -1 : stack.back();
      stack.push_back(static_cast<std::int32_t>(lo_.size()));
      lo_.push_back(p.lo);
      const auto at = static_cast<std::uint32_t>(values_.size());
      nodes_.push_back(Node{p.hi, parent, at, at});
      values_.push_back(p.value);
    } else if (values_.back() != p.value) {
      values_.push_back(p.value);
    }
    nodes_.back().end = static_cast<std::uint32_t>(values_.size());
  }
  pending_.clear();
  pending_.shrink_to_fit();
  top_.clear();
  for (std::size_t i = 0; i < lo_.size(); i += kLine) top_.push_back(lo_[i]);
}

template <class K>
std::int32_t PrefixTable<K>::longest_match(K key) const noexcept {
  std::int32_t i = last_starting_at_or_before(key);
  while (i >= 0 && key > nodes_[static_cast<std::size_t>(i)].hi) {
    i = nodes_[static_cast<std::size_t>(i)].parent;
  }
  return i;
}

template class PrefixTable<std::uint32_t>;
template class PrefixTable<U128>;

void CidrIndex::add(const Cidr& cidr, std::uint32_t value) {
  if (cidr.network.is_v4()) {
    v4_.add(cidr.v4_lo(), cidr.v4_hi(), value);
  } else {
    v6_.add(cidr.v6_lo(), cidr.v6_hi(), value);
  }
}

void CidrIndex::build() {
  v4_.build();
  v6_.build();
}

}  // namespace egress::policy
