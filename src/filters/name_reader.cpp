#include "filters/name_reader.hpp"

#include <chrono>
#include <string>

#include "filters/peeked_bytes.hpp"
#include "peek/client_hello_reader.hpp"
#include "peek/first_bytes.hpp"
#include "peek/http_host_reader.hpp"

namespace egress::filters {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

boost::asio::awaitable<std::optional<base::Outcome>> read_name(FilterContext& context,
                                                               const config::PeekConfig& peek,
                                                               NameFacts& out) {
  const auto until = Clock::now() + peek.timeout;
  peek::ClientHelloReader hello(peek.max_bytes);
  peek::HttpHostReader http(peek.max_bytes);
  peek::FirstBytes kind = peek::FirstBytes::need_more;
  std::size_t seen = 0;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      out.detail = "timeout after " + std::to_string(peek.timeout.count()) + " ms";
      if (seen > 0) out.detail += " with " + byte_count(seen) + " seen";
      co_return std::nullopt;
    }
    const Peeked p = co_await context.peek(peek.max_bytes, left);
    seen = p.bytes.size();
    if (kind == peek::FirstBytes::need_more) kind = peek::classify_first_bytes(p.bytes);
    switch (kind) {
      case peek::FirstBytes::tls: {
        const auto& r = hello.read(as_octets(p.bytes));
        if (r.status == peek::PeekStatus::invalid)
          co_return base::Outcome::denied(base::Reason::client_hello_invalid, r.detail);
        if (r.status == peek::PeekStatus::done) {
          out.ech = r.ech;
          if (r.sni.empty()) {
            out.detail = "ClientHello without server_name";
          } else {
            out.host = r.sni;
            out.source = NameSource::sni;
          }
          co_return std::nullopt;
        }
        break;
      }
      case peek::FirstBytes::http: {
        const auto& r = http.read(p.bytes);
        if (r.status == peek::PeekStatus::invalid)
          co_return base::Outcome::denied(base::Reason::http_request_invalid, r.detail);
        if (r.status == peek::PeekStatus::done) {
          if (r.host.host.empty()) {
            out.detail = "HTTP request without Host";
          } else if (r.host.ip_literal) {
            // An address is not a name: no hostname rule can match it (issue 19).
            out.detail = "Host is an IP address (" + r.host.host + "), not a name";
          } else {
            out.host = r.host.host;
            out.source = NameSource::http_host;
          }
          co_return std::nullopt;
        }
        break;
      }
      case peek::FirstBytes::other:
        out.detail = "not TLS or HTTP";
        co_return std::nullopt;
      case peek::FirstBytes::need_more:
        break;
    }
    if (p.timed_out) {
      out.detail = "timeout after " + std::to_string(peek.timeout.count()) + " ms";
      if (seen > 0) out.detail += " with " + byte_count(seen) + " seen";
      co_return std::nullopt;
    }
    if (p.complete || seen >= peek.max_bytes) {
      // The client ended its stream, or (TLS) the peek cannot see past the first record, or the
      // readers want more than max_bytes without having refused it (cannot happen today): either
      // way no name is coming.
      out.detail = seen == 0 ? "the client sent nothing"
                             : "no name in the " + byte_count(seen) + " the peek could see";
      co_return std::nullopt;
    }
  }
}

}  // namespace egress::filters
