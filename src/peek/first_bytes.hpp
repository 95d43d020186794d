#pragma once

// What protocol a client's first bytes start, so the name step knows which reader to feed.

#include <cstdint>
#include <string_view>

namespace egress::peek {

/// What the first bytes of a client stream look like.
enum class FirstBytes : std::uint8_t {
  need_more,  ///< too few bytes to tell (none yet, or a method token not yet followed by a space)
  tls,        ///< a TLS handshake record (content type 22): read with ClientHelloReader
  http,       ///< an HTTP/1.x request line (a known method, then a space): HttpHostReader
  other,      ///< anything else: no name can be read
};

/// "need_more" | "tls" | "http" | "other"
constexpr std::string_view to_string(FirstBytes f) noexcept {
  return f == FirstBytes::need_more ? "need_more"
         : f == FirstBytes::tls     ? "tls"
         : f == FirstBytes::http    ? "http"
                                    : "other";
}

/// Classifies the stream's first bytes: 0x16 first is TLS; a method Beast knows (GET, POST,
/// CONNECT, the WebDAV methods, ...) followed by a space is HTTP; anything else is other, as soon
/// as the bytes can no longer become one of those.
FirstBytes classify_first_bytes(std::string_view bytes) noexcept;

}  // namespace egress::peek
