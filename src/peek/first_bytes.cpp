#include "peek/first_bytes.hpp"

// Boost 1.81's core/detail/string_view.hpp (under verb.hpp) uses std::ostream without including
// it.
#include <ostream>
// clang-format off
#include <boost/beast/http/verb.hpp>
// clang-format on
#include <cstddef>

namespace egress::peek {

namespace {

// Beast's longest method name ("VERSION-CONTROL") is 15 characters.
constexpr std::size_t kMaxMethodLength = 15;

bool is_method_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || c == '-';
}

}  // namespace

FirstBytes classify_first_bytes(std::string_view bytes) noexcept {
  if (bytes.empty()) return FirstBytes::need_more;
  // RFC 8446 §5.1: a handshake record; the ClientHelloReader checks the rest.
  if (static_cast<unsigned char>(bytes[0]) == 0x16) return FirstBytes::tls;
  for (std::size_t i = 0; i < bytes.size() && i <= kMaxMethodLength; ++i) {
    if (bytes[i] == ' ') {
      if (i == 0) return FirstBytes::other;
      const auto verb = boost::beast::http::string_to_verb(bytes.substr(0, i));
      return verb == boost::beast::http::verb::unknown ? FirstBytes::other : FirstBytes::http;
    }
    if (!is_method_char(bytes[i])) return FirstBytes::other;
  }
  return bytes.size() <= kMaxMethodLength ? FirstBytes::need_more : FirstBytes::other;
}

}  // namespace egress::peek
