#pragma once

// The Host of the first request on a plaintext HTTP/1.x connection, before any byte goes upstream.

#include <cstddef>
#include <string>
#include <string_view>

#include "peek/http_host.hpp"
#include "peek/http_request_stream.hpp"
#include "peek/peek_status.hpp"

namespace egress::peek {

/// What an HttpHostReader found.
struct HttpHostResult {
  PeekStatus status = PeekStatus::need_more;
  /// done: the first request's host (HttpHost: an empty host is a request that names none).
  HttpHost host;
  /// done: bytes of the first request's head; its body, and the next request, follow. To read
  /// the Host of later requests, an HttpRequestStream continues from here (or reads from byte 0).
  std::size_t head_length = 0;
  /// invalid: what is wrong (HttpRequestStream's checks).
  std::string detail;
};

/// Reads the first request head with Beast's HTTP/1.x parser (see HttpRequestStream for what is
/// invalid); the head may not pass `max_bytes`.
///
/// Feeding: as ClientHelloReader, the whole prefix seen so far on every call, each extending the
/// previous one; only new bytes are parsed. After done or invalid, read() returns the same result.
class HttpHostReader {
 public:
  explicit HttpHostReader(std::size_t max_bytes = kDefaultMaxBytes) noexcept : stream_(max_bytes) {}

  /// See the class comment. The reference stays valid until the next call or destruction.
  const HttpHostResult& read(std::string_view prefix);
  const HttpHostResult& result() const noexcept { return result_; }

 private:
  HttpRequestStream stream_;
  HttpHostResult result_;
};

/// One-shot form: read(bytes) on a fresh reader.
HttpHostResult read_http_host(std::string_view bytes, std::size_t max_bytes = kDefaultMaxBytes);

}  // namespace egress::peek
