#pragma once

#include <chrono>
#include <cstddef>

#include "config/config.hpp"
#include "filters/filter.hpp"
#include "policy/address_set.hpp"

namespace egress::filters {

/// The first step of a listener with `proxy_protocol` (issue 20, section 3): reads the PROXY
/// protocol header (v1 or v2) a load balancer puts before its client's bytes, before anything
/// else reads the stream.
///
/// From a source in `trusted`, a header is required: it is read with peeks bounded by one
/// deadline (`timeout`, the listener's peek.timeout: a balancer sends it right after the TCP
/// handshake), then consumed (FilterContext::discard), so neither the TLS handshake nor the
/// upstream sees it. A PROXY command over TCP4/TCP6 makes the header's source the client
/// (facts.src, for policy, limits and audit; the real peer goes to facts.proxied_by) and its
/// destination the original destination (facts.dst; the original_dst step keeps it). LOCAL (the
/// balancer's health check) ends the connection with Reason::proxy_local (closed, no record);
/// PROXY over UDP, AF_UNIX or an unspecified transport is denied proxy_transport_unsupported; no
/// header, a malformed or an incomplete one is denied proxy_header_invalid.
///
/// From any other source, the first bytes are peeked (same deadline) only until they show
/// whether they start with a PROXY signature: a header (complete, or malformed after its
/// signature) is denied proxy_header_untrusted, so a client cannot claim another source; bytes
/// that are no header, or none before the deadline, pass the connection on unchanged.
class ProxyProtocolFilter final : public ConnectionFilter {
 public:
  ProxyProtocolFilter(const config::ProxyProtocolConfig& config, std::chrono::milliseconds timeout,
                      std::size_t max_bytes);

  // ConnectionFilter
  std::string_view name() const noexcept override { return "proxy_protocol"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

 private:
  policy::AddressSet trusted_;
  std::chrono::milliseconds timeout_;
  std::size_t max_bytes_;
};

}  // namespace egress::filters
