#include "policy/address_set.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace egress::policy {

namespace {

template <class K>
K low_mask(unsigned host_bits) {
  constexpr unsigned width = sizeof(K) * 8;
  if (host_bits == 0) return 0;
  if (host_bits >= width) return ~K{0};
  return (K{1} << host_bits) - 1;
}

template <class K>
void normalize(std::vector<KeyInterval<K>>& v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.lo < b.lo; });
  std::vector<KeyInterval<K>> out;
  out.reserve(v.size());
  for (const auto& iv : v) {
    if (!out.empty() &&
        (iv.lo <= out.back().hi || (out.back().hi != ~K{0} && iv.lo == out.back().hi + 1))) {
      out.back().hi = std::max(out.back().hi, iv.hi);
    } else {
      out.push_back(iv);
    }
  }
  v = std::move(out);
}

template <class K>
bool contains_key(const std::vector<KeyInterval<K>>& v, K k) noexcept {
  auto it = std::upper_bound(v.begin(), v.end(), k, [](K x, const auto& iv) { return x < iv.lo; });
  if (it == v.begin()) return false;
  --it;
  return k <= it->hi;
}

template <class K>
std::vector<KeyInterval<K>> unite(const std::vector<KeyInterval<K>>& a,
                                  const std::vector<KeyInterval<K>>& b) {
  std::vector<KeyInterval<K>> out(a);
  out.insert(out.end(), b.begin(), b.end());
  normalize(out);
  return out;
}

template <class K>
std::vector<KeyInterval<K>> intersect(const std::vector<KeyInterval<K>>& a,
                                      const std::vector<KeyInterval<K>>& b) {
  std::vector<KeyInterval<K>> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const K lo = std::max(a[i].lo, b[j].lo);
    const K hi = std::min(a[i].hi, b[j].hi);
    if (lo <= hi) out.push_back({lo, hi});
    if (a[i].hi < b[j].hi) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

template <class K>
std::vector<KeyInterval<K>> subtract(const std::vector<KeyInterval<K>>& a,
                                     const std::vector<KeyInterval<K>>& b) {
  std::vector<KeyInterval<K>> out;
  std::size_t j = 0;
  for (auto cur : a) {
    bool alive = true;
    while (j < b.size() && b[j].hi < cur.lo) ++j;
    for (std::size_t k = j; k < b.size() && b[k].lo <= cur.hi; ++k) {
      if (b[k].lo > cur.lo) out.push_back({cur.lo, b[k].lo - 1});
      if (b[k].hi >= cur.hi) {
        alive = false;
        break;
      }
      cur.lo = b[k].hi + 1;
    }
    if (alive) out.push_back(cur);
  }
  return out;
}

std::vector<Cidr> make_set(std::initializer_list<std::string_view> texts) {
  std::vector<Cidr> out;
  for (auto t : texts) out.push_back(*parse_cidr(t).cidr);
  return out;
}

}  // namespace

U128 v6_key(const net::IpAddress& a) noexcept {
  U128 k = 0;
  for (std::size_t i = 0; i < 16; ++i) k = (k << 8) | a.bytes()[i];
  return k;
}

std::string Cidr::to_string() const {
  return network.to_string() + '/' + std::to_string(prefix_len);
}

std::uint32_t Cidr::v4_lo() const noexcept {
  return v4_key(network);
}
std::uint32_t Cidr::v4_hi() const noexcept {
  return v4_key(network) | low_mask<std::uint32_t>(32 - prefix_len);
}
U128 Cidr::v6_lo() const noexcept {
  return v6_key(network);
}
U128 Cidr::v6_hi() const noexcept {
  return v6_key(network) | low_mask<U128>(128 - prefix_len);
}

CidrParse parse_cidr(std::string_view text) {
  CidrParse r;
  const auto slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  auto addr = net::IpAddress::parse(addr_text);
  if (!addr) {
    r.error = "\"" + std::string(text) + "\" is not an IP address or CIDR";
    return r;
  }
  const bool written_v6 = addr_text.find(':') != std::string_view::npos;
  unsigned written_max = written_v6 ? 128 : 32;
  unsigned len = written_max;
  if (slash != std::string_view::npos) {
    const auto len_text = text.substr(slash + 1);
    const auto [p, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (len_text.empty() || ec != std::errc() || p != len_text.data() + len_text.size() ||
        len > written_max) {
      r.error = "\"" + std::string(text) + "\" has an invalid prefix length (0-" +
                std::to_string(written_max) + ")";
      return r;
    }
  }
  if (written_v6 && addr->is_v4()) {
    // ::ffff:a.b.c.d/n is evaluated as IPv4 (DESIGN: v4-mapped addresses are IPv4 everywhere).
    if (len < 96) {
      r.error = "\"" + std::string(text) +
                "\": an IPv4-mapped prefix must be /96 or longer (it is evaluated as IPv4)";
      return r;
    }
    len -= 96;
  }
  Cidr c{*addr, len};
  bool host_bits = false;
  if (addr->is_v4()) {
    const std::uint32_t k = v4_key(*addr);
    const std::uint32_t masked = k & ~low_mask<std::uint32_t>(32 - len);
    host_bits = masked != k;
    c.network = net::IpAddress::v4(masked);
  } else {
    const U128 k = v6_key(*addr);
    const U128 masked = k & ~low_mask<U128>(128 - len);
    host_bits = masked != k;
    std::array<std::uint8_t, 16> b{};
    for (int i = 15; i >= 0; --i) b[i] = static_cast<std::uint8_t>(masked >> ((15 - i) * 8));
    c.network = net::IpAddress::v6(b);
  }
  if (host_bits) {
    r.error =
        "\"" + std::string(text) + "\" has host bits set; did you mean " + c.to_string() + "?";
    return r;
  }
  r.cidr = c;
  return r;
}

const std::vector<Cidr>* builtin_set(std::string_view name) noexcept {
  static const std::vector<Cidr> non_public = make_set({
      "0.0.0.0/8",     "10.0.0.0/8",   "100.64.0.0/10",  "127.0.0.0/8",   "169.254.0.0/16",
      "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
      "240.0.0.0/4",   "::/128",       "::1/128",        "64:ff9b::/96",  "64:ff9b:1::/48",
      "100::/64",      "2001::/32",    "2002::/16",      "fc00::/7",      "fe80::/10",
      "ff00::/8",
  });
  static const std::vector<Cidr> metadata = make_set({"169.254.169.254/32", "fd00:ec2::254/128"});
  if (name == "builtin:non_public") return &non_public;
  if (name == "builtin:metadata") return &metadata;
  return nullptr;
}

AddressSet AddressSet::all() {
  AddressSet s;
  s.v4_.push_back({0, std::numeric_limits<std::uint32_t>::max()});
  s.v6_.push_back({0, ~U128{0}});
  return s;
}

AddressSet AddressSet::from_cidrs(const std::vector<Cidr>& cidrs) {
  AddressSet s;
  for (const auto& c : cidrs) {
    if (c.network.is_v4()) {
      s.v4_.push_back({c.v4_lo(), c.v4_hi()});
    } else {
      s.v6_.push_back({c.v6_lo(), c.v6_hi()});
    }
  }
  normalize(s.v4_);
  normalize(s.v6_);
  return s;
}

bool AddressSet::contains(const net::IpAddress& a) const noexcept {
  return a.is_v4() ? contains_key(v4_, v4_key(a)) : contains_key(v6_, v6_key(a));
}

bool AddressSet::is_all() const noexcept {
  return *this == all();
}

bool AddressSet::subset_of(const AddressSet& other) const {
  return subtract(other).empty();
}

AddressSet AddressSet::unite(const AddressSet& other) const {
  AddressSet s;
  s.v4_ = policy::unite(v4_, other.v4_);
  s.v6_ = policy::unite(v6_, other.v6_);
  return s;
}

AddressSet AddressSet::intersect(const AddressSet& other) const {
  AddressSet s;
  s.v4_ = policy::intersect(v4_, other.v4_);
  s.v6_ = policy::intersect(v6_, other.v6_);
  return s;
}

AddressSet AddressSet::subtract(const AddressSet& other) const {
  AddressSet s;
  s.v4_ = policy::subtract(v4_, other.v4_);
  s.v6_ = policy::subtract(v6_, other.v6_);
  return s;
}

}  // namespace egress::policy
