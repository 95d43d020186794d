#pragma once

// The client's peeked bytes (Peeked::bytes), as the filters hand them to peek's readers and
// count them in an outcome's detail.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace egress::filters {

/// The bytes as the octets peek's binary readers take (ClientHelloReader, ConnectRequestReader,
/// read_proxy_header). Valid as long as `bytes`.
inline std::span<const std::uint8_t> as_octets(std::string_view bytes) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
}

/// "1 byte", "12 bytes": a number of bytes for a detail.
inline std::string byte_count(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

}  // namespace egress::filters
