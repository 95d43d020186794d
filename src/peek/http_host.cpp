#include "peek/http_host.hpp"

#include <charconv>

#include "base/ip_address.hpp"
#include "peek/hostname.hpp"

namespace egress::peek {

std::string parse_http_authority(std::string_view text, HttpHost& out) {
  out = HttpHost{};
  if (text.empty()) return "empty host";
  if (text.find('@') != std::string_view::npos) return "userinfo in the authority";
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return "unclosed '[' in the authority";
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "bytes after ']' in the authority";
      port = rest.substr(1);
    }
    bracketed = true;
  } else {
    const auto colon = text.rfind(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return "an IPv6 address without brackets";
  }
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return "port is not 1-65535";
    out.port = static_cast<std::uint16_t>(value);
  }
  if (host.empty()) return "empty host";
  if (bracketed) {
    const auto address = host.find(':') != std::string_view::npos
                             ? base::IpAddress::parse(host)
                             : std::optional<base::IpAddress>();
    if (!address) return "not an IPv6 address between '[' and ']'";
    out.host = address->to_string();
    out.ip_literal = true;
    return {};
  }
  if (const auto address = base::IpAddress::parse(host)) {
    out.host = address->to_string();
    out.ip_literal = true;
    return {};
  }
  normalize_hostname_into(host, out.host);
  if (is_ip_literal(out.host)) return "a legacy IPv4 form (only dotted-quad addresses)";
  const std::string_view why = hostname_error(host);
  if (!why.empty()) return "not a DNS name: " + std::string(why);
  return {};
}

}  // namespace egress::peek
