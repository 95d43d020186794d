#include "policy/packed_sets.hpp"

#include <algorithm>
#include <stdexcept>

namespace egress::policy::detail {

namespace {

void push_u128(std::vector<std::uint32_t>& w, U128 v) {
  for (int shift = 96; shift >= 0; shift -= 32) w.push_back(static_cast<std::uint32_t>(v >> shift));
}

U128 read_u128(const std::uint32_t* p) noexcept {
  U128 v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 32) | p[i];
  return v;
}

// Index of the last interval whose lo <= key among n intervals of `stride` words starting at p,
// or -1; lo_of(p + i * stride) reads an interval's lo.
template <class K, class LoOf>
std::ptrdiff_t last_at_or_below(const std::uint32_t* p, std::uint32_t n, std::size_t stride, K key,
                                LoOf lo_of) noexcept {
  std::uint32_t lo = 0, hi = n;  // answer + 1 lies in [lo, hi]
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    if (lo_of(p + mid * stride) <= key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return static_cast<std::ptrdiff_t>(lo) - 1;
}

}  // namespace

// Address and port sets share one deduplication map: their word sequences cannot be equal. A port
// set [n, r1..rn] has n + 1 words; an address set [n4, n6, ...] has 2 + 2 * n4 + 8 * n6, and
// with n = n4 that would need n + 1 = 2 + 2n + 8 * n6.
std::int32_t PackedSets::intern(std::vector<std::uint32_t> words) {
  if (auto it = seen_.find(words); it != seen_.end()) return it->second;
  if (words_.size() + words.size() > static_cast<std::size_t>(INT32_MAX))
    throw std::length_error("policy: address and port sets exceed 2^31 words");
  const auto at = static_cast<std::int32_t>(words_.size());
  words_.insert(words_.end(), words.begin(), words.end());
  seen_.emplace(std::move(words), at);
  return at;
}

std::int32_t PackedSets::add(const AddressSet& s) {
  std::vector<std::uint32_t> w;
  w.reserve(2 + 2 * s.v4().size() + 8 * s.v6().size());
  w.push_back(static_cast<std::uint32_t>(s.v4().size()));
  w.push_back(static_cast<std::uint32_t>(s.v6().size()));
  for (const auto& iv : s.v4()) {
    w.push_back(iv.lo);
    w.push_back(iv.hi);
  }
  for (const auto& iv : s.v6()) {
    push_u128(w, iv.lo);
    push_u128(w, iv.hi);
  }
  return intern(std::move(w));
}

std::int32_t PackedSets::add(const PortSet& s) {
  std::vector<std::uint32_t> w;
  w.reserve(1 + s.ranges().size());
  w.push_back(static_cast<std::uint32_t>(s.ranges().size()));
  for (const auto& r : s.ranges()) w.push_back(std::uint32_t{r.lo} << 16 | r.hi);
  return intern(std::move(w));
}

void PackedSets::freeze() {
  seen_.clear();
  words_.shrink_to_fit();
}

bool PackedSets::contains_address(std::int32_t at, const base::IpAddress& a) const noexcept {
  const std::uint32_t* p = words_.data() + at;
  const std::uint32_t n4 = p[0], n6 = p[1];
  const std::uint32_t* v4 = p + 2;
  if (a.is_v4()) {
    const std::uint32_t key = v4_key(a);
    const auto i = last_at_or_below(v4, n4, 2, key, [](const std::uint32_t* iv) { return iv[0]; });
    return i >= 0 && key <= v4[2 * i + 1];
  }
  const std::uint32_t* v6 = v4 + 2 * n4;
  const U128 key = v6_key(a);
  const auto i =
      last_at_or_below(v6, n6, 8, key, [](const std::uint32_t* iv) { return read_u128(iv); });
  return i >= 0 && key <= read_u128(v6 + 8 * i + 4);
}

bool PackedSets::contains_port(std::int32_t at, std::uint16_t port) const noexcept {
  const std::uint32_t* p = words_.data() + at;
  const std::uint32_t n = p[0];
  const std::uint32_t* ranges = p + 1;
  // Ranges are sorted and disjoint; most sets hold a handful, and a scan beats a search there.
  if (n <= 8) {
    for (std::uint32_t i = 0; i < n; ++i) {
      if (port < (ranges[i] >> 16)) return false;
      if (port <= (ranges[i] & 0xFFFFu)) return true;
    }
    return false;
  }
  const auto i = last_at_or_below(ranges, n, 1, std::uint32_t{port},
                                  [](const std::uint32_t* r) { return *r >> 16; });
  return i >= 0 && port <= (ranges[i] & 0xFFFFu);
}

}  // namespace egress::policy::detail
