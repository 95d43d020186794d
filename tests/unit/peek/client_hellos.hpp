#pragma once

// Real ClientHellos for the peek tests, fuzz seeds and benchmark: OpenSSL's client writes its first
// flight into a memory BIO; helpers take the handshake message apart and put it back together
// (other extensions, other record framing) the way a test needs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace egress::peek::testing {

using Bytes = std::vector<std::uint8_t>;

struct HelloOptions {
  std::string sni;                    ///< empty: no server_name extension
  int max_version = 0;                ///< e.g. TLS1_2_VERSION; 0: OpenSSL's default (TLS 1.3)
  std::size_t alpn_bytes = 0;         ///< grow the ALPN list to about this many bytes
  std::size_t max_send_fragment = 0;  ///< OpenSSL's record size (>= 512); 0: default (16384)
};

/// The bytes OpenSSL's SSL_connect writes first: the ClientHello in one or more TLS records.
Bytes openssl_client_hello(const HelloOptions& options);

/// The handshake messages carried by `records` (type 22 records), concatenated.
Bytes handshake_of(const Bytes& records);

/// `message` in records of at most `fragment` bytes each (type 22, the first with record
/// version 0x0301, the others 0x0303).
Bytes frame(const Bytes& message, std::size_t fragment);
/// `message` in exactly `count` records of about equal size.
Bytes frame_in(const Bytes& message, std::size_t count);

/// A ClientHello message taken apart: everything before the extensions, and the extensions.
struct Hello {
  Bytes head;  ///< legacy_version .. compression_methods
  std::vector<std::pair<std::uint16_t, Bytes>> extensions;

  /// The handshake message (type 1, length, body) with every length recomputed.
  Bytes message() const;
  /// The first extension of this type, or nullptr.
  Bytes* find(std::uint16_t type);
};
Hello parse_hello(const Bytes& message);

/// A server_name extension body listing these host_name entries.
Bytes server_name_body(const std::vector<std::string>& names);

}  // namespace egress::peek::testing
