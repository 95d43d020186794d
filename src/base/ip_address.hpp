#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace egress::base {

/// An IPv4 or IPv6 address as a plain value. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
/// normalised to IPv4 on every way in (parse, from_sockaddr, from_v6_bytes), so the rest of the
/// program never sees them.
class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  /// 0.0.0.0
  IpAddress() = default;

  /// From 4 bytes in network order.
  static IpAddress v4(std::array<std::uint8_t, 4> bytes) noexcept;
  /// From a host-order 32-bit value (192.0.2.1 == 0xC0000201).
  static IpAddress v4(std::uint32_t host_order) noexcept;
  /// From 16 bytes in network order; an IPv4-mapped address becomes IPv4.
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes) noexcept;

  /// Parses "192.0.2.1" or "2001:db8::1" (no brackets, no zone). nullopt when invalid.
  static std::optional<IpAddress> parse(std::string_view text) noexcept;

  /// From a sockaddr_in / sockaddr_in6; nullopt for other families.
  static std::optional<IpAddress> from_sockaddr(const sockaddr* sa) noexcept;

  Family family() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == Family::v4; }
  bool is_v6() const noexcept { return family_ == Family::v6; }
  /// Number of meaningful bytes: 4 or 16.
  std::size_t size() const noexcept { return is_v4() ? 4 : 16; }
  /// Network-order bytes; only the first size() are meaningful (the rest are zero).
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
  /// Host-order value of an IPv4 address (0 for IPv6).
  std::uint32_t v4_host_order() const noexcept;
  /// 0.0.0.0 or ::
  bool is_unspecified() const noexcept;
  bool is_loopback() const noexcept;

  /// Canonical text: dotted quad, or RFC 5952 IPv6.
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  Family family_ = Family::v4;
};

/// An address and a TCP port.
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;

  /// "192.0.2.1:443" or "[2001:db8::1]:443".
  static std::optional<Endpoint> parse(std::string_view text) noexcept;
  /// From a sockaddr_in / sockaddr_in6 (port converted from network order).
  static std::optional<Endpoint> from_sockaddr(const sockaddr* sa) noexcept;
  /// Fills `out` (sockaddr_in or sockaddr_in6) and returns its length.
  unsigned to_sockaddr(sockaddr_storage& out) const noexcept;

  /// "192.0.2.1:443" or "[2001:db8::1]:443".
  std::string to_string() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

}  // namespace egress::base
