#pragma once

// The client side of the relay for a connection decided by the Host of its first plaintext
// HTTP/1.x request (facts.name, source http_host; on a TLS-terminating listener, HTTP inside the
// TLS session): every later request on the kept-alive connection must decide as the first did
// (issue 19), or nothing of it goes upstream and the connection is reset (`host_changed`).
//
// HttpRequestGate wraps the client's stream (TcpStream, or the TLS socket) in the relay's
// vocabulary (read_some / write_some / shutdown_send / socket(), net::IoResult) and hands the
// relay only bytes that may go upstream: bodies as they come, each request head once it is whole
// and its host passed LaterRequestCheck. The relay treats it as it treats TLS (a source that may
// hold bytes of its own): it reads on until the gate says want_read, and the gate says so only
// when the stream under it did, in the same call, so the relay's readiness waits (EdgeWait) stay
// correct; bytes the gate may pass are always handed out before it reads again or reports an end.
// Connections without such a name relay through the stream itself, untouched.

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/errc.hpp>
#include <cstddef>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/later_request_check.hpp"
#include "core/relay_result.hpp"
#include "net/io_result.hpp"
#include "peek/http_request_stream.hpp"

namespace egress::core {

/// Which bytes of a client's HTTP/1.x stream may go upstream. Parses the stream's requests
/// (peek::HttpRequestStream: Beast's parser, bodies framed and skipped) and asks `check` about
/// each head's host. Stops for good at the first head that does not pass or cannot be read (a
/// head larger than `max_head_bytes` included): violation() says why. After a CONNECT or a
/// protocol switch (Upgrade) the stream is no longer HTTP (opaque()): everything passes
/// unchecked from then on (see docs/config.md, "Later requests on a kept-alive connection").
class RequestScreen {
 public:
  RequestScreen(LaterRequestCheck check, std::size_t max_head_bytes)
      : check_(std::move(check)), stream_(max_head_bytes) {}
  RequestScreen(const RequestScreen&) = delete;
  RequestScreen& operator=(const RequestScreen&) = delete;

  /// Reads `bytes`: the stream from the first byte not passed yet. Returns how many of them, from
  /// the start, may pass. When violation() is set, no later byte may pass, ever; otherwise the
  /// rest is the start of a head (or of a chunk header) that is not complete: present it again
  /// with what arrives next appended. May throw std::bad_alloc.
  std::size_t examine(std::string_view bytes);

  /// The stream stopped being HTTP (after CONNECT or Upgrade): every byte passes.
  bool opaque() const noexcept { return opaque_; }
  /// A head did not pass.
  bool violated() const noexcept { return violation_.has_value(); }
  /// When violated(): why, for the close record (names the request's host and the first's).
  const std::string& violation() const noexcept { return *violation_; }
  /// Complete request heads read so far (the first included).
  std::size_t requests() const noexcept { return heads_; }

 private:
  LaterRequestCheck check_;
  peek::HttpRequestStream stream_;
  std::size_t heads_ = 0;
  bool opaque_ = false;
  std::optional<std::string> violation_;
};

/// The relay's client-side stream for a connection named by its first HTTP request's Host (see
/// the file comment). `Inner` is TcpStream or tls::TlsSocket&. Bytes of an incomplete head are
/// held (at most peek.max_bytes and one read more) and do not count as relay activity; when the
/// client ends its stream behind an incomplete head, those bytes are dropped and the relay sees
/// the end. A refused request reads as an error (the relay then stops both ways); refused() gives
/// the close record's detail. Bytes passed before the refused head (the previous request's body)
/// are read by the relay first.
template <class Inner>
class HttpRequestGate {
 public:
  HttpRequestGate(Inner inner, LaterRequestCheck check, std::size_t max_head_bytes)
      : inner_(inner), screen_(std::move(check), max_head_bytes) {}
  HttpRequestGate(const HttpRequestGate&) = delete;
  HttpRequestGate& operator=(const HttpRequestGate&) = delete;

  boost::asio::ip::tcp::socket& socket() noexcept { return inner_.socket(); }

  /// As the inner stream's read_some, but only bytes that may go upstream.
  net::IoResult read_some(std::byte* buf, std::size_t len) noexcept {
    try {
      return read_screened(buf, len);
    } catch (const std::exception&) {
      // Out of memory while parsing: nothing unchecked may pass.
      if (!failure_)
        failure_ = "request " + std::to_string(screen_.requests() + 1) +
                   ": out of memory while reading the head";
      held_.clear();
      passable_ = 0;
      return refuse();
    }
  }

  net::IoResult write_some(const std::byte* buf, std::size_t len) noexcept {
    return inner_.write_some(buf, len);
  }

  net::IoResult shutdown_send() noexcept { return inner_.shutdown_send(); }

  /// Once read_some reported a refused request: why (the close record's detail).
  std::optional<std::string> refused() const {
    if (!refusal_reported_) return std::nullopt;
    if (failure_) return failure_;
    return screen_.violation();
  }

  /// Request heads read so far.
  std::size_t requests() const noexcept { return screen_.requests(); }

 private:
  /// Bytes read behind a held incomplete head per read.
  static constexpr std::size_t kReadBehind = 4096;

  net::IoResult read_screened(std::byte* buf, std::size_t len) {
    for (;;) {
      if (passable_ > 0) return hand_out(buf, len);
      if (screen_.violated()) return refuse();
      if (held_.empty()) {
        // The usual case: read into the relay's buffer and pass what may pass in place.
        const net::IoResult r = inner_.read_some(buf, len);
        if (r.status != net::IoResult::Status::done || screen_.opaque()) return r;
        const std::string_view got(reinterpret_cast<const char*>(buf), r.bytes);
        const std::size_t pass = screen_.examine(got);
        if (pass < got.size() && !screen_.violated()) held_.assign(got.substr(pass));
        if (pass > 0) return net::IoResult::transferred(pass);
        continue;  // all of it held (read behind it), or refused
      }
      // An incomplete head is held: read behind it, then look at it whole again.
      const std::size_t old = held_.size();
      held_.resize(old + kReadBehind);
      const net::IoResult r =
          inner_.read_some(reinterpret_cast<std::byte*>(held_.data() + old), kReadBehind);
      held_.resize(old + (r.status == net::IoResult::Status::done ? r.bytes : 0));
      if (r.status == net::IoResult::Status::eof) {
        release();  // the client ended inside a head: none of it goes upstream
        return r;
      }
      if (r.status != net::IoResult::Status::done) return r;
      passable_ = screen_.examine(held_);
      if (screen_.violated()) held_.resize(passable_);
    }
  }

  net::IoResult hand_out(std::byte* buf, std::size_t len) {
    const std::size_t n = std::min(len, passable_);
    std::memcpy(buf, held_.data(), n);
    held_.erase(0, n);
    passable_ -= n;
    if (held_.empty()) release();
    return net::IoResult::transferred(n);
  }

  net::IoResult refuse() noexcept {
    refusal_reported_ = true;
    return net::IoResult::failed(
        boost::system::errc::make_error_code(boost::system::errc::permission_denied));
  }

  /// An idle kept-alive connection keeps no buffer.
  void release() noexcept {
    held_.clear();
    if (held_.capacity() > 512) std::string().swap(held_);
  }

  Inner inner_;
  RequestScreen screen_;
  /// Read from `inner_`, not yet handed to the relay: [0, passable_) may pass, the rest is the
  /// start of a head that is not complete yet.
  std::string held_;
  std::size_t passable_ = 0;
  std::optional<std::string> failure_;
  bool refusal_reported_ = false;
};

/// The relay's result for a connection whose gate refused a request (`refused`, from refused()):
/// the relay saw that as a failed read of the client's stream (a reset blamed on the client);
/// the close record says host_changed, closed by the gateway, with the gate's detail. Anything
/// else is left as it is.
inline void apply_refusal(RelayResult& rr, std::optional<std::string> refused) {
  if (!refused || rr.reason != base::Reason::reset) return;
  rr.reason = base::Reason::host_changed;
  rr.closed_by = base::Side::gateway;
  rr.detail = std::move(*refused);
}

}  // namespace egress::core
