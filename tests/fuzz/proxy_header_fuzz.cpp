// libFuzzer target for the PROXY protocol header reader (src/peek): the input is a client's first
// bytes as a load balancer sends them. Whatever they are, the reader ends in one state its caller
// can act on: done with a header length inside the bytes (v1 within 107 bytes and ending in CRLF,
// v2 within max_bytes), addresses exactly when the header carries them, and nothing depending on a
// byte after the header; invalid with a detail, "no header" only when the bytes start like neither
// signature; need_more only while a header can still be completing. Read at every growing prefix
// (the caller's way), the first answer that is not need_more is the answer for the whole input.
// Build and run: tests/fuzz/README.md.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "peek/proxy_header.hpp"

namespace {

using egress::peek::PeekStatus;
using egress::peek::ProxyCommand;
using egress::peek::ProxyHeaderResult;
using egress::peek::ProxyTransport;

bool same_ssl(const ProxyHeaderResult& a, const ProxyHeaderResult& b) {
  if (a.ssl.has_value() != b.ssl.has_value()) return false;
  if (!a.ssl) return true;
  return a.ssl->client_ssl == b.ssl->client_ssl && a.ssl->cert_conn == b.ssl->cert_conn &&
         a.ssl->cert_sess == b.ssl->cert_sess && a.ssl->verify == b.ssl->verify &&
         a.ssl->version == b.ssl->version && a.ssl->cn == b.ssl->cn &&
         a.ssl->cipher == b.ssl->cipher && a.ssl->sig_alg == b.ssl->sig_alg &&
         a.ssl->key_alg == b.ssl->key_alg;
}

// The same answer; a "no header" detail quotes the bytes seen, so it alone may differ.
bool same(const ProxyHeaderResult& a, const ProxyHeaderResult& b) {
  return a.status == b.status && a.no_header == b.no_header && a.version == b.version &&
         a.command == b.command && a.transport == b.transport && a.source == b.source &&
         a.destination == b.destination && a.length == b.length && a.authority == b.authority &&
         a.alpn == b.alpn && a.unique_id == b.unique_id && same_ssl(a, b) &&
         a.crc32c_verified == b.crc32c_verified && (a.no_header || a.detail == b.detail);
}

bool could_be_signature(std::span<const std::uint8_t> bytes) {
  static constexpr std::uint8_t v1[5] = {'P', 'R', 'O', 'X', 'Y'};
  const std::size_t n1 = std::min<std::size_t>(bytes.size(), 5);
  const std::size_t n2 = std::min<std::size_t>(bytes.size(), 12);
  return std::memcmp(bytes.data(), v1, n1) == 0 ||
         std::memcmp(bytes.data(), egress::peek::kProxyV2Signature, n2) == 0;
}

void check(std::span<const std::uint8_t> bytes, std::size_t max_bytes) {
  const ProxyHeaderResult whole = egress::peek::read_proxy_header(bytes, max_bytes);
  switch (whole.status) {
    case PeekStatus::done: {
      if (whole.no_header || !whole.detail.empty()) __builtin_trap();
      if (whole.length < 15 || whole.length > bytes.size()) __builtin_trap();
      if (whole.version == 1) {
        if (whole.length > 107 || bytes[whole.length - 2] != '\r' ||
            bytes[whole.length - 1] != '\n')
          __builtin_trap();
        if (whole.authority || whole.ssl || whole.crc32c_verified) __builtin_trap();
      } else if (whole.version == 2) {
        if (whole.length < 16 || whole.length > max_bytes) __builtin_trap();
        if (whole.length != 16 + ((std::size_t{bytes[14]} << 8) | bytes[15])) __builtin_trap();
      } else {
        __builtin_trap();
      }
      const bool ip =
          whole.transport == ProxyTransport::tcp4 || whole.transport == ProxyTransport::tcp6 ||
          whole.transport == ProxyTransport::udp4 || whole.transport == ProxyTransport::udp6;
      const bool addressed = whole.command == ProxyCommand::proxy && ip;
      if (whole.source.has_value() != addressed || whole.destination.has_value() != addressed)
        __builtin_trap();
      if (whole.command == ProxyCommand::local && whole.transport != ProxyTransport::unspec)
        __builtin_trap();
      if (whole.unique_id && whole.unique_id->size() > 128) __builtin_trap();
      // Nothing after the header was needed, and one byte less is not enough.
      if (!same(egress::peek::read_proxy_header(bytes.first(whole.length), max_bytes), whole))
        __builtin_trap();
      if (egress::peek::read_proxy_header(bytes.first(whole.length - 1), max_bytes).status !=
          PeekStatus::need_more)
        __builtin_trap();
      break;
    }
    case PeekStatus::invalid:
      if (whole.detail.empty() || whole.source || whole.destination || whole.authority ||
          whole.ssl || whole.unique_id || whole.alpn || whole.crc32c_verified || whole.length != 0)
        __builtin_trap();
      if (whole.no_header != (whole.version == 0)) __builtin_trap();
      if (whole.no_header == could_be_signature(bytes)) __builtin_trap();
      break;
    case PeekStatus::need_more:
      if (!could_be_signature(bytes)) __builtin_trap();
      if (bytes.size() >= std::max<std::size_t>(107, max_bytes)) __builtin_trap();
      break;
  }
  // Read at growing prefixes (steps of 1..16 bytes, sizes taken from the bytes themselves): need
  // more until the whole input's answer.
  std::size_t n = 0;
  for (;;) {
    const ProxyHeaderResult r = egress::peek::read_proxy_header(bytes.first(n), max_bytes);
    if (r.status != PeekStatus::need_more) {
      if (!same(r, whole)) __builtin_trap();
      break;
    }
    if (n == bytes.size()) {
      if (whole.status != PeekStatus::need_more) __builtin_trap();
      break;
    }
    n = std::min(bytes.size(), n + 1 + (bytes[n] & 15));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  check(bytes, egress::peek::kDefaultMaxBytes);
  check(bytes, 64);  // a small limit, so inputs of fuzzer size reach it
  return 0;
}
