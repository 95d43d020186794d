// libFuzzer target for the ClientHello SNI reader (src/peek): the input is the client's first
// bytes. Whatever they are, the reader ends in one state its caller can act on: done with a name
// the policy can compare (valid, normalised, not an address) or none, invalid with a detail, or
// need_more only while under peek.max_bytes; fed in pieces it says exactly what it says fed at
// once, and done never depends on a byte after the ClientHello. Build and run:
// tests/fuzz/README.md.

#include <cstddef>
#include <cstdint>
#include <span>

#include "peek/client_hello_reader.hpp"
#include "peek/hostname.hpp"

namespace {

using egress::peek::ClientHelloReader;
using egress::peek::ClientHelloResult;
using egress::peek::PeekStatus;

bool same(const ClientHelloResult& a, const ClientHelloResult& b) {
  return a.status == b.status && a.sni == b.sni && a.ech == b.ech && a.length == b.length &&
         a.detail == b.detail;
}

void check(std::span<const std::uint8_t> bytes, std::size_t max_bytes) {
  const ClientHelloResult whole = egress::peek::read_client_hello(bytes, max_bytes);
  switch (whole.status) {
    case PeekStatus::done:
      if (whole.length == 0 || whole.length > bytes.size() || whole.length > max_bytes)
        __builtin_trap();
      if (!whole.detail.empty()) __builtin_trap();
      if (!whole.sni.empty() &&
          (!egress::peek::is_valid_hostname(whole.sni) || egress::peek::is_ip_literal(whole.sni) ||
           egress::peek::normalize_hostname(whole.sni) != whole.sni || whole.sni.back() == '.'))
        __builtin_trap();
      // Nothing after the ClientHello was needed.
      if (!same(egress::peek::read_client_hello(bytes.first(whole.length), max_bytes), whole))
        __builtin_trap();
      break;
    case PeekStatus::invalid:
      if (whole.detail.empty() || !whole.sni.empty() || whole.ech) __builtin_trap();
      break;
    case PeekStatus::need_more:
      if (bytes.size() >= max_bytes) __builtin_trap();  // the caller's buffer stays bounded
      break;
  }
  // Fed in pieces of 1..16 bytes (sizes taken from the bytes themselves): the same verdict.
  ClientHelloReader reader(max_bytes);
  std::size_t n = 0;
  while (n < bytes.size() && reader.result().status == PeekStatus::need_more) {
    n = std::min(bytes.size(), n + 1 + (bytes[n] & 15));
    reader.read(bytes.first(n));
  }
  if (!same(reader.result(), whole)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  check(bytes, egress::peek::kDefaultMaxBytes);
  check(bytes, 512);  // a small limit, so inputs of fuzzer size reach it
  return 0;
}
