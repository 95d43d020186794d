#pragma once

// The egressd agent's upstream in the relay's vocabulary (issue 20, section 2): the TLS session to
// the gateway, whose first bytes are the gateway's answer to the agent's CONNECT. Writes (the
// workload's bytes) pass at once, pipelined right behind the CONNECT head, so the gateway can
// read the SNI inside the tunnel before it decides. Reads first take the answer's head in: 200 →
// the bytes after it and everything later are the destination's; anything else → the read fails
// and refusal() says why (via_denied for 403, else via_error), which the session's end turns into
// the close record and a reset of the workload.

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include <openssl/ssl.h>

#include "base/reason.hpp"
#include "net/io_result.hpp"
#include "peek/connect_response.hpp"
#include "tls/tls_socket.hpp"

namespace egress::core {

class ViaStream {
 public:
  /// The gateway refused the tunnel, or did not answer as a gateway does.
  struct Refusal {
    base::Reason reason;  ///< via_denied (403) or via_error
    std::string detail;   ///< "HTTP/1.1 403 Forbidden: egressd: CONNECT ... denied: ..."
  };

  explicit ViaStream(tls::TlsSocket& tls) noexcept : tls_(tls) {}

  boost::asio::ip::tcp::socket& socket() noexcept { return tls_.socket(); }

  net::IoResult read_some(std::byte* buf, std::size_t len) noexcept {
    if (open_) {
      if (served_ < head_.size()) return serve_rest(buf, len);
      return tls_.read_some(buf, len);
    }
    if (refusal_) return net::IoResult::failed(boost::asio::error::connection_refused);
    try {
      return read_answer(buf, len);
    } catch (const std::bad_alloc&) {
      return refuse(base::Reason::via_error, "out of memory reading the gateway's answer");
    }
  }
  net::IoResult write_some(const std::byte* buf, std::size_t len) noexcept {
    return tls_.write_some(buf, len);
  }
  net::IoResult shutdown_send() noexcept { return tls_.shutdown_send(); }
  bool buffered() const noexcept { return tls_.buffered() || (open_ && served_ < head_.size()); }

  /// Whether the gateway's answer was read (a 200, or a refusal).
  bool answered() const noexcept { return open_ || refusal_.has_value(); }

  /// At the relay's end, when the answer was not read (the other direction failed first, e.g.
  /// writing to a gateway that had already answered 403 and closed): reads what the socket still
  /// holds, so a refusal that arrived is reported as one; without any answer, a via_error.
  void settle_answer() noexcept {
    if (answered()) return;
    std::byte scratch[4096];
    for (;;) {
      const net::IoResult r = read_some(scratch, sizeof scratch);
      if (r.status != net::IoResult::Status::done || answered()) break;
    }
    if (!answered()) {
      refuse(base::Reason::via_error, "the tunnel ended before the gateway's answer");
    }
  }

  /// Set once the gateway refused (the relay's read from it then failed).
  const std::optional<Refusal>& refusal() const noexcept { return refusal_; }
  /// The answer's Egressd-Decision (the gateway's conn_id), once an answer was read; empty
  /// before, or when the gateway sent none.
  const std::string& decision() const noexcept { return decision_; }

 private:
  net::IoResult read_answer(std::byte* buf, std::size_t len) {
    for (;;) {
      const net::IoResult r = tls_.read_some(buf, len);
      if (r.status == net::IoResult::Status::want_read ||
          r.status == net::IoResult::Status::want_write) {
        return r;
      }
      if (r.status == net::IoResult::Status::error) {
        return refuse(base::Reason::via_error,
                      "the gateway's connection failed before its answer: " + r.ec.message());
      }
      const bool ended = r.status == net::IoResult::Status::eof;
      if (!ended) head_.append(reinterpret_cast<const char*>(buf), r.bytes);
      const auto answer = peek::read_connect_response(
          {reinterpret_cast<const std::uint8_t*>(head_.data()), head_.size()}, ended);
      if (answer.status == peek::PeekStatus::need_more) continue;
      if (answer.status == peek::PeekStatus::invalid) {
        return refuse(base::Reason::via_error, "the gateway's answer: " + answer.detail);
      }
      decision_ = answer.decision;
      if (answer.code != 200) {
        // A whole answer is a clean end of the TLS session: its session stays resumable when the
        // relay's end resets the connection (OpenSSL drops a session freed without a shutdown).
        SSL_set_shutdown(tls_.native_handle(), SSL_SENT_SHUTDOWN);
        return refuse(
            answer.code == 403 ? base::Reason::via_denied : base::Reason::via_error,
            answer.status_line + (answer.body_line.empty() ? "" : ": " + answer.body_line));
      }
      open_ = true;
      served_ = answer.length;
      if (served_ < head_.size()) return serve_rest(buf, len);
      head_.clear();
      head_.shrink_to_fit();
      served_ = 0;
      return tls_.read_some(buf, len);
    }
  }

  net::IoResult serve_rest(std::byte* buf, std::size_t len) noexcept {
    const std::size_t n = std::min(len, head_.size() - served_);
    std::memmove(buf, head_.data() + served_, n);
    served_ += n;
    return net::IoResult::transferred(n);
  }

  net::IoResult refuse(base::Reason reason, std::string detail) noexcept {
    refusal_ = Refusal{reason, std::move(detail)};
    return net::IoResult::failed(boost::asio::error::connection_refused);
  }

  tls::TlsSocket& tls_;
  std::string head_;  ///< the answer's bytes as read; after a 200, what followed its head
  std::size_t served_ = 0;
  bool open_ = false;
  std::optional<Refusal> refusal_;
  std::string decision_;
};

}  // namespace egress::core
