#include "peek/hostname.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "base/ip_address.hpp"

namespace egress::peek {

namespace {

constexpr char to_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// The characters of the inet_aton forms: digits, hex digits, "x" and dots.
bool inet_aton_charset(std::string_view text) noexcept {
  for (const char c : text) {
    if (!is_digit(c) && c != '.' && c != 'x' && c != 'X' &&
        !((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

}  // namespace

std::string_view hostname_error(std::string_view name) noexcept {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return "empty name";
  if (name.size() > kMaxHostnameLength) return "longer than 253 characters";
  std::size_t label_start = 0;
  bool label_all_digits = true;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const std::size_t length = i - label_start;
      if (length == 0) return "empty label";
      if (length > 63) return "label longer than 63 characters";
      if (name[label_start] == '-' || name[i - 1] == '-')
        return "label starts or ends with a hyphen";
      if (i == name.size() && label_all_digits) return "last label is all digits";
      label_start = i + 1;
      label_all_digits = true;
      continue;
    }
    const char c = name[i];
    if (static_cast<unsigned char>(c) >= 0x80)
      return "non-ASCII byte (IDNA names are sent as xn-- A-labels)";
    if (is_digit(c)) continue;
    label_all_digits = false;
    if (!is_alpha(c) && c != '-') return "character other than a letter, digit, hyphen or dot";
  }
  return {};
}

void normalize_hostname_into(std::string_view name, std::string& out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  out.resize(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) out[i] = to_lower(name[i]);
}

std::string normalize_hostname(std::string_view name) {
  std::string out;
  normalize_hostname_into(name, out);
  return out;
}

bool is_ip_literal(std::string_view text) noexcept {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    return text.find(':') != std::string_view::npos && base::IpAddress::parse(text).has_value();
  }
  if (base::IpAddress::parse(text)) return true;
  // glibc's inet_aton also accepts "1.2.3.4 anything": only its own characters go in.
  char buf[kMaxHostnameLength + 2];  // zero padding ("0x000...7f000001") is still an address
  if (text.empty() || text.size() >= sizeof(buf) || !inet_aton_charset(text)) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr addr;
  return ::inet_aton(buf, &addr) != 0;
}

}  // namespace egress::peek
