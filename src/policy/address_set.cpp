#include "policy/address_set.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>

namespace egress::policy {

namespace {

// `"text"` followed by the rest of a message. Built with append rather than `"\"" + std::string`:
// GCC 12 at -O2 and above reports a false -Wrestrict inside that operator+ (its inlined replace).
std::string quoted_message(std::string_view text, std::initializer_list<std::string_view> rest) {
  std::string out;
  out.reserve(text.size() + 64);
  out.append(1, '"').append(text).append(1, '"');
  for (auto part : rest) out.append(part);
  return out;
}

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

U128 v6_key(const base::IpAddress& a) noexcept {
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
  auto addr = base::IpAddress::parse(addr_text);
  if (!addr) {
    r.error = quoted_message(text, {" is not an IP address or CIDR"});
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
      r.error = quoted_message(
          text, {" has an invalid prefix length (0-", std::to_string(written_max), ")"});
      return r;
    }
  }
  if (written_v6 && addr->is_v4()) {
    // ::ffff:a.b.c.d/n is evaluated as IPv4 (DESIGN: v4-mapped addresses are IPv4 everywhere).
    if (len < 96) {
      r.error = quoted_message(
          text, {": an IPv4-mapped prefix must be /96 or longer (it is evaluated as IPv4)"});
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
    c.network = base::IpAddress::v4(masked);
  } else {
    const U128 k = v6_key(*addr);
    const U128 masked = k & ~low_mask<U128>(128 - len);
    host_bits = masked != k;
    std::array<std::uint8_t, 16> b{};
    for (int i = 15; i >= 0; --i) b[i] = static_cast<std::uint8_t>(masked >> ((15 - i) * 8));
    c.network = base::IpAddress::v6(b);
  }
  if (host_bits) {
    r.error = quoted_message(text, {" has host bits set; did you mean ", c.to_string(), "?"});
    return r;
  }
  r.cidr = c;
  return r;
}

const std::vector<Cidr>* builtin_set(std::string_view name) noexcept {
  // Every block the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its
  // updates) mark as not globally reachable, plus multicast and the reserved and deprecated blocks
  // an egress gateway must never open a connection to. docs/policy.md explains the choices.
  static const std::vector<Cidr> non_public = make_set({
      // IPv4.
      "0.0.0.0/8",       // "this network" (RFC 791)
      "10.0.0.0/8",      // private (RFC 1918)
      "100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
      "127.0.0.0/8",     // loopback (RFC 1122)
      "169.254.0.0/16",  // link-local, cloud metadata (RFC 3927)
      "172.16.0.0/12",   // private (RFC 1918)
      "192.0.0.0/24",    // IETF protocol assignments, DS-Lite, NAT64 discovery (RFC 6890)
      "192.88.99.0/24",  // deprecated 6to4 relay anycast (RFC 7526)
      "192.168.0.0/16",  // private (RFC 1918)
      "198.18.0.0/15",   // benchmarking (RFC 2544)
      "224.0.0.0/4",     // multicast (RFC 5771)
      "240.0.0.0/4",     // reserved (RFC 1112), with limited broadcast 255.255.255.255/32
      // Left out on purpose: the documentation blocks 192.0.2.0/24, 198.51.100.0/24 and
      // 203.0.113.0/24 (RFC 5737), which the test sandbox uses as "the internet".

      // IPv6 inside 2000::/3, the global unicast space.
      "2001::/23",  // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID (RFC 2928)
      "2002::/16",  // 6to4 (RFC 3056)
      "3fff::/20",  // documentation (RFC 9637); 2001:db8::/32 (RFC 3849) is the sandbox's
      // IPv6 outside 2000::/3: IANA allocates no global unicast there (IPv6 Address Space
      // registry), so all of it is denied; the special blocks in it are named for the reader.
      "::/3", "4000::/2", "8000::/1",
      "::/128",           // unspecified (RFC 4291)
      "::1/128",          // loopback (RFC 4291)
      "::/96",            // deprecated IPv4-compatible ::a.b.c.d (RFC 4291 2.5.5.1)
      "::ffff:0:0:0/96",  // SIIT IPv4-translated ::ffff:0:a.b.c.d (RFC 2765)
      "64:ff9b::/96",     // NAT64 well-known prefix (RFC 6052)
      "64:ff9b:1::/48",   // NAT64 local use (RFC 8215)
      "100::/64",         // discard-only (RFC 6666)
      "5f00::/16",        // SRv6 SIDs (RFC 9602)
      "fc00::/7",         // unique local (RFC 4193)
      "fe80::/10",        // link-local (RFC 4291)
      "fec0::/10",        // deprecated site-local (RFC 3879)
      "ff00::/8",         // multicast (RFC 4291)
      // IPv4-mapped ::ffff:0:0/96 is not a prefix here: a mapped address is IPv4 everywhere
      // (base::IpAddress), so it meets the IPv4 blocks above.
  });
  static const std::vector<Cidr> metadata = make_set({"169.254.169.254/32", "fd00:ec2::254/128"});
  if (name == "builtin:non_public") return &non_public;
  if (name == "builtin:metadata") return &metadata;
  return nullptr;
}

namespace {

// IPv6 prefixes that carry an IPv4 address in their last 32 bits (see embedded_v4).
constexpr U128 kCompatPrefix = 0;                      // ::/96
constexpr U128 kSiitPrefix = U128{0xffff} << 48;       // ::ffff:0:0:0/96
constexpr U128 kNat64Prefix = U128{0x0064ff9b} << 96;  // 64:ff9b::/96
constexpr U128 k6to4Prefix = U128{0x2002} << 112;      // 2002::/16, IPv4 in bits 80-111
constexpr U128 kLow32 = 0xffffffff;
constexpr U128 kLow80 = (U128{1} << 80) - 1;

}  // namespace

std::optional<base::IpAddress> embedded_v4(const base::IpAddress& a) noexcept {
  if (!a.is_v6()) return std::nullopt;
  const U128 k = v6_key(a);
  const U128 prefix96 = k & ~kLow32;
  if (prefix96 == kCompatPrefix || prefix96 == kSiitPrefix || prefix96 == kNat64Prefix)
    return base::IpAddress::v4(static_cast<std::uint32_t>(k));
  if ((k >> 112) == 0x2002) return base::IpAddress::v4(static_cast<std::uint32_t>(k >> 80));
  return std::nullopt;
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

bool AddressSet::contains(const base::IpAddress& a) const noexcept {
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

AddressSet AddressSet::with_embedded_v4() const {
  AddressSet s = *this;
  for (const auto& iv : v4_) {
    for (const U128 prefix : {kCompatPrefix, kSiitPrefix, kNat64Prefix})
      s.v6_.push_back({prefix | iv.lo, prefix | iv.hi});
    s.v6_.push_back(
        {k6to4Prefix | (U128{iv.lo} << 80), k6to4Prefix | (U128{iv.hi} << 80) | kLow80});
  }
  normalize(s.v6_);
  return s;
}

AddressSet AddressSet::subtract(const AddressSet& other) const {
  AddressSet s;
  s.v4_ = policy::subtract(v4_, other.v4_);
  s.v6_ = policy::subtract(v6_, other.v6_);
  return s;
}

}  // namespace egress::policy
