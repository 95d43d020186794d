// libFuzzer target for the CONNECT request reader (src/peek): the input is a client's first bytes
// on a `destination: connect` listener. Whatever they are, the reader ends in one state the
// listener can act on: done with a head inside the bytes and within max_head_bytes, ending in the
// blank line, exactly one of a valid normalised name (not an address spelling) or an address, a
// port, and nothing depending on a byte after the head; invalid with 400, 405 or 431 (431 only once
// max_head_bytes bytes are there) and a one-line detail; need_more only under the limit. Read at
// growing prefixes by one reader (the listener's way), the first answer that is not need_more is
// the answer for the whole input. Build and run: tests/fuzz/README.md.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "peek/connect_request.hpp"
#include "peek/hostname.hpp"

namespace {

using egress::peek::ConnectRequest;
using egress::peek::PeekStatus;

bool same(const ConnectRequest& a, const ConnectRequest& b) {
  return a.status == b.status && a.name == b.name && a.address == b.address && a.port == b.port &&
         a.version == b.version && a.length == b.length && a.agent_conn == b.agent_conn &&
         a.status_code == b.status_code && a.detail == b.detail;
}

// The detail goes into the answer's body as one line: no control bytes (CR, LF) at all.
bool one_line(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

void check(std::span<const std::uint8_t> bytes, std::size_t max) {
  const ConnectRequest whole = egress::peek::read_connect_request(bytes, max);
  switch (whole.status) {
    case PeekStatus::done: {
      if (whole.status_code != 0 || !whole.detail.empty()) __builtin_trap();
      if (whole.length < 4 || whole.length > bytes.size() || whole.length > max) __builtin_trap();
      const std::string_view head(reinterpret_cast<const char*>(bytes.data()), whole.length);
      if (!head.starts_with("CONNECT ") || !head.ends_with("\r\n\r\n")) __builtin_trap();
      if (whole.port == 0 || (whole.version != 10 && whole.version != 11)) __builtin_trap();
      if (whole.address.has_value() == !whole.name.empty()) __builtin_trap();
      if (!whole.name.empty()) {
        if (!egress::peek::is_valid_hostname(whole.name) ||
            egress::peek::normalize_hostname(whole.name) != whole.name ||
            egress::peek::is_ip_literal(whole.name))
          __builtin_trap();
      }
      if (whole.agent_conn) {
        const std::string& id = *whole.agent_conn;
        if (id.empty() || id.size() > 128) __builtin_trap();
        for (const char c : id)
          if (c < 0x21 || c > 0x7e) __builtin_trap();
      }
      // Nothing after the head was needed, and one byte less is not enough.
      if (!same(egress::peek::read_connect_request(bytes.first(whole.length), max), whole))
        __builtin_trap();
      if (egress::peek::read_connect_request(bytes.first(whole.length - 1), max).status !=
          PeekStatus::need_more)
        __builtin_trap();
      break;
    }
    case PeekStatus::invalid:
      if (whole.status_code != 400 && whole.status_code != 405 && whole.status_code != 431)
        __builtin_trap();
      if (whole.detail.empty() || whole.detail.size() > 300 || !one_line(whole.detail))
        __builtin_trap();
      if (!whole.name.empty() || whole.address || whole.port != 0 || whole.length != 0 ||
          whole.agent_conn || whole.version != 0)
        __builtin_trap();
      if (whole.status_code == 431 && bytes.size() < max) __builtin_trap();
      break;
    case PeekStatus::need_more:
      if (bytes.size() >= max) __builtin_trap();
      break;
  }
  // One reader fed growing prefixes (steps of 1..16 bytes, sizes taken from the bytes themselves):
  // need more until the whole input's answer, which later bytes do not change.
  egress::peek::ConnectRequestReader reader(max);
  std::size_t n = 0;
  for (;;) {
    const ConnectRequest& r = reader.read(bytes.first(n));
    if (r.status != PeekStatus::need_more) {
      if (!same(r, whole)) __builtin_trap();
      if (!same(reader.read(bytes), whole)) __builtin_trap();
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
  check(bytes, egress::peek::kDefaultMaxConnectHead);
  check(bytes, 64);  // a small limit, so inputs of fuzzer size reach it
  return 0;
}
