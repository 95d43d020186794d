// libFuzzer target for the HTTP Host readers (src/peek): the input is a client's plaintext bytes.
// HttpHostReader ends done with a host the policy can compare (a valid normalised DNS name, a
// canonical address, or none), invalid with a detail, or need_more under its limit; fed in pieces
// it says what it says fed at once (or, where Beast waits for the end of a head, still needs more
// or meets the limit first). HttpRequestStream reports the same first host, the same hosts
// whatever the pieces, and consumes no byte it was not given. Build and run: tests/fuzz/README.md.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"
#include "peek/hostname.hpp"
#include "peek/http_host_reader.hpp"
#include "peek/http_request_stream.hpp"

namespace {

using namespace egress::peek;

constexpr std::size_t kMax = 2048;

bool same(const HttpHostResult& a, const HttpHostResult& b) {
  return a.status == b.status && a.host == b.host && a.head_length == b.head_length &&
         a.detail == b.detail;
}

void check_host(const HttpHost& h) {
  if (h.host.empty()) {
    if (h.ip_literal) __builtin_trap();
    return;
  }
  if (h.ip_literal) {
    const auto address = egress::base::IpAddress::parse(h.host);
    if (!address || address->to_string() != h.host) __builtin_trap();
  } else if (!is_valid_hostname(h.host) || is_ip_literal(h.host) ||
             normalize_hostname(h.host) != h.host || h.host.back() == '.') {
    __builtin_trap();
  }
  if (h.port && *h.port == 0) __builtin_trap();
}

struct Run {
  std::vector<HttpHost> hosts;
  HttpStreamEvent last = HttpStreamEvent::need_more;
  std::string detail;
  std::size_t consumed = 0;
};

// As the filter will: a buffer of unconsumed bytes, pieces of 1..16 bytes (or all at once).
Run stream(std::string_view in, bool pieces) {
  HttpRequestStream s(kMax);
  Run run;
  std::string buffer;
  std::size_t at = 0;
  while (at < in.size()) {
    const std::size_t n =
        pieces ? std::min(in.size() - at, std::size_t{1} + (in[at] & 15)) : in.size();
    buffer.append(in.substr(at, n));
    at += n;
    for (;;) {
      const HttpStreamStep step = s.next(buffer);
      if (step.consumed > buffer.size()) __builtin_trap();
      buffer.erase(0, step.consumed);
      run.consumed += step.consumed;
      run.last = step.event;
      if (step.event == HttpStreamEvent::request) {
        check_host(s.host());
        run.hosts.push_back(s.host());
        continue;
      }
      if (step.event == HttpStreamEvent::invalid) {
        if (s.detail().empty()) __builtin_trap();
        run.detail = s.detail();
        return run;
      }
      break;
    }
    if (buffer.size() > kMax + 16)
      __builtin_trap();  // the stream keeps the caller's buffer bounded
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  const HttpHostResult whole = read_http_host(in, kMax);
  switch (whole.status) {
    case PeekStatus::done:
      check_host(whole.host);
      if (whole.head_length == 0 || whole.head_length > size || !whole.detail.empty())
        __builtin_trap();
      if (!same(read_http_host(in.substr(0, whole.head_length), kMax), whole)) __builtin_trap();
      break;
    case PeekStatus::invalid:
      if (whole.detail.empty()) __builtin_trap();
      break;
    case PeekStatus::need_more:
      if (size >= kMax) __builtin_trap();
      break;
  }
  HttpHostReader reader(kMax);
  std::size_t n = 0;
  while (n < size && reader.result().status == PeekStatus::need_more) {
    n = std::min(size, n + 1 + (data[n] & 15));
    reader.read(in.substr(0, n));
  }
  // Beast parses a head's fields as they come when it gets them at once, but once it has asked
  // for more it waits for the blank line before parsing on: a bad field invalid at once can still
  // need more in pieces, or meet the size limit first. Otherwise the verdicts are the same.
  const bool deferred =
      whole.status == PeekStatus::invalid && reader.result().status != PeekStatus::done;
  if (!deferred && !same(reader.result(), whole)) __builtin_trap();

  const Run at_once = stream(in, false);
  const Run in_pieces = stream(in, true);
  if (at_once.hosts != in_pieces.hosts) __builtin_trap();
  const bool stream_deferred =
      at_once.last == HttpStreamEvent::invalid &&
      (in_pieces.last == HttpStreamEvent::need_more || in_pieces.last == HttpStreamEvent::invalid);
  if (!stream_deferred && (at_once.last != in_pieces.last || at_once.detail != in_pieces.detail ||
                           at_once.consumed != in_pieces.consumed))
    __builtin_trap();
  if (at_once.consumed > size) __builtin_trap();
  if (whole.status == PeekStatus::done) {
    if (at_once.hosts.empty() || !(at_once.hosts.front() == whole.host)) __builtin_trap();
  }
  if (whole.status == PeekStatus::invalid && !at_once.hosts.empty()) __builtin_trap();
  return 0;
}
