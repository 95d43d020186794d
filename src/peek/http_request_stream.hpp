#pragma once

// The Host of every request on a plaintext HTTP/1.x connection, in order: issue 19 requires every
// later request on a kept-alive connection to decide as the first did (host_changed otherwise),
// so the reader must find each request's head, which means framing the bodies in between.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "peek/http_head_parser.hpp"
#include "peek/http_host.hpp"
#include "peek/peek_status.hpp"

namespace egress::peek {

/// What HttpRequestStream::next found.
enum class HttpStreamEvent : std::uint8_t {
  need_more,  ///< every byte it could read is consumed; call again with the rest and more
  request,    ///< a request head is complete: host() is its host; its bytes are consumed
  opaque,     ///< the stream stopped being HTTP after a CONNECT or Upgrade request: no more heads
  invalid,    ///< not HTTP/1.x, or a head's host is unusable: detail() says why
};

/// "need_more" | "request" | "opaque" | "invalid"
constexpr std::string_view to_string(HttpStreamEvent e) noexcept {
  return e == HttpStreamEvent::need_more ? "need_more"
         : e == HttpStreamEvent::request ? "request"
         : e == HttpStreamEvent::opaque  ? "opaque"
                                         : "invalid";
}

/// One step of HttpRequestStream::next.
struct HttpStreamStep {
  HttpStreamEvent event = HttpStreamEvent::need_more;
  /// Bytes of next()'s input read: the caller drops them from its buffer (they may go upstream,
  /// once the request they belong to is allowed) and presents the rest again, with what arrives
  /// next appended. A head is consumed only whole, with its `request` event, so no byte of a
  /// head goes upstream before its Host is known; body bytes are consumed as they come.
  std::size_t consumed = 0;
};

/// Parses consecutive requests of one client stream with Beast's HTTP/1.x parser, reports each
/// request head's host, and skips each body by its framing (Content-Length or chunked, trailers
/// included) without keeping it. Per head, invalid: not HTTP/1.0 or 1.1 (Beast's error, e.g. "bad
/// method"), a head larger than `max_head_bytes`, two Host fields, an empty or unparsable Host
/// (parse_http_authority), HTTP/1.1 without Host (RFC 9112 §3.2), a request-target that is neither
/// origin-form nor an absolute URI with an authority, and an absolute-form or CONNECT target whose
/// host or port disagrees with Host (a missing port is the scheme's default: http 80, https 443).
/// After a CONNECT, or a request asking to switch protocols (an Upgrade field and the "upgrade"
/// Connection option), the bytes that follow may be another protocol: the stream reports that
/// request, then `opaque` for the rest. Only the upstream's answer (101, or 2xx to CONNECT) says
/// whether HTTP goes on: a caller that lets opaque bytes through without seeing it lets a client
/// send later requests unchecked.
/// No heap allocation per request but the host strings (none for names of up to 15 bytes).
class HttpRequestStream {
 public:
  explicit HttpRequestStream(std::size_t max_head_bytes = kDefaultMaxBytes) noexcept
      : max_head_bytes_(max_head_bytes) {}
  HttpRequestStream(const HttpRequestStream&) = delete;
  HttpRequestStream& operator=(const HttpRequestStream&) = delete;

  /// Reads `bytes`: the stream's bytes from the first one not consumed yet. Stops at the first
  /// complete head (`request`), at the end of the input (`need_more`), or at a problem (`invalid`,
  /// then every later call returns it again and consumes nothing).
  HttpStreamStep next(std::string_view bytes);

  /// After `request`: that request's host.
  const HttpHost& host() const noexcept { return host_; }
  /// After `request`: the bytes of that request's head (request line, fields, blank line).
  std::size_t head_length() const noexcept { return head_length_; }
  /// Request heads read so far.
  std::size_t requests() const noexcept { return requests_; }
  /// After `invalid`: what is wrong.
  const std::string& detail() const noexcept { return detail_; }

 private:
  HttpStreamStep fail(std::string detail, std::size_t consumed);
  std::string check_head();
  std::string too_large() const;

  std::size_t max_head_bytes_;
  detail::HeadCapture capture_;
  std::optional<detail::HeadParser> parser_;
  std::size_t head_parsed_ = 0;  // bytes of the current head Beast has read, not yet consumed
  std::size_t head_length_ = 0;
  std::size_t requests_ = 0;
  bool opaque_ = false;
  bool invalid_ = false;
  HttpHost host_;
  HttpHost target_host_;
  std::string detail_;
};

}  // namespace egress::peek
