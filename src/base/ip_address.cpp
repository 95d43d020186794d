#include "base/ip_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace egress::base {

namespace {

bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) noexcept {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

}  // namespace

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) noexcept {
  IpAddress a;
  std::memcpy(a.bytes_.data(), bytes.data(), 4);
  a.family_ = Family::v4;
  return a;
}

IpAddress IpAddress::v4(std::uint32_t host_order) noexcept {
  return v4({static_cast<std::uint8_t>(host_order >> 24),
             static_cast<std::uint8_t>(host_order >> 16),
             static_cast<std::uint8_t>(host_order >> 8), static_cast<std::uint8_t>(host_order)});
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) noexcept {
  if (is_v4_mapped(bytes)) return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  IpAddress a;
  a.bytes_ = bytes;
  a.family_ = Family::v6;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) noexcept {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') == std::string_view::npos) {
    std::array<std::uint8_t, 4> b{};
    if (inet_pton(AF_INET, buf, b.data()) != 1) return std::nullopt;
    return v4(b);
  }
  std::array<std::uint8_t, 16> b{};
  if (inet_pton(AF_INET6, buf, b.data()) != 1) return std::nullopt;
  return v6(b);
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* sa) noexcept {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof(sin));
    std::array<std::uint8_t, 4> b;
    std::memcpy(b.data(), &sin.sin_addr, 4);
    return v4(b);
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof(sin6));
    std::array<std::uint8_t, 16> b;
    std::memcpy(b.data(), &sin6.sin6_addr, 16);
    return v6(b);
  }
  return std::nullopt;
}

std::uint32_t IpAddress::v4_host_order() const noexcept {
  if (!is_v4()) return 0;
  return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
         (std::uint32_t{bytes_[2]} << 8) | std::uint32_t{bytes_[3]};
}

bool IpAddress::is_unspecified() const noexcept {
  for (std::size_t i = 0; i < size(); ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

bool IpAddress::is_loopback() const noexcept {
  if (is_v4()) return bytes_[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[15] == 1;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  const char* s = inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return s ? std::string(s) : std::string();
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) noexcept {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535)
    return std::nullopt;
  auto address = IpAddress::parse(host);
  if (!address) return std::nullopt;
  return Endpoint{*address, static_cast<std::uint16_t>(value)};
}

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa) noexcept {
  auto address = IpAddress::from_sockaddr(sa);
  if (!address) return std::nullopt;
  std::uint16_t port_be = 0;
  if (sa->sa_family == AF_INET) {
    std::memcpy(&port_be, reinterpret_cast<const char*>(sa) + offsetof(sockaddr_in, sin_port), 2);
  } else {
    std::memcpy(&port_be, reinterpret_cast<const char*>(sa) + offsetof(sockaddr_in6, sin6_port), 2);
  }
  return Endpoint{*address, ntohs(port_be)};
}

unsigned Endpoint::to_sockaddr(sockaddr_storage& out) const noexcept {
  std::memset(&out, 0, sizeof(out));
  if (address.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, address.bytes().data(), 4);
    std::memcpy(&out, &sin, sizeof(sin));
    return sizeof(sin);
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, address.bytes().data(), 16);
  std::memcpy(&out, &sin6, sizeof(sin6));
  return sizeof(sin6);
}

std::string Endpoint::to_string() const {
  // append, not "[" + string: GCC 12 at -O2 reports a false -Wrestrict in that operator+.
  std::string s;
  if (address.is_v6()) {
    s.append(1, '[').append(address.to_string()).append(1, ']');
  } else {
    s = address.to_string();
  }
  s += ':';
  s += std::to_string(port);
  return s;
}

}  // namespace egress::base
