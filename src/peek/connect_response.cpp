#include "peek/connect_response.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

namespace egress::peek {

namespace {

namespace http = boost::beast::http;

constexpr std::size_t kMaxDecision = 128;
constexpr std::size_t kMaxBodyLine = 512;

std::string first_line(std::string_view body) {
  const auto end = body.find_first_of("\r\n");
  std::string out(body.substr(0, std::min(end, kMaxBodyLine)));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

ConnectResponse invalid(std::string detail) {
  ConnectResponse r;
  r.status = PeekStatus::invalid;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

ConnectResponse read_connect_response(std::span<const std::uint8_t> bytes, bool ended) {
  const std::size_t size = std::min(bytes.size(), kMaxConnectResponse);
  const auto buffer = boost::asio::buffer(bytes.data(), size);
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxConnectResponse));
  parser.body_limit(kMaxConnectResponse);
  // A 2xx answer to CONNECT has no body (RFC 9110 §9.3.6): the tunnel starts after the head.
  parser.eager(false);
  boost::beast::error_code ec;
  std::size_t used = parser.put(buffer, ec);
  if (ec && ec != http::error::need_more) return invalid("not an HTTP/1.x answer: " + ec.message());
  if (!parser.is_header_done()) {
    if (bytes.size() >= kMaxConnectResponse) {
      return invalid("answer head over " + std::to_string(kMaxConnectResponse) + " bytes");
    }
    if (ended) return invalid("the gateway closed the connection before its answer's end");
    return {};
  }
  const auto& head = parser.get();
  ConnectResponse r;
  r.code = static_cast<int>(head.result_int());
  r.status_line = "HTTP/" + std::to_string(head.version() / 10) + "." +
                  std::to_string(head.version() % 10) + " " + std::to_string(r.code) +
                  (head.reason().empty() ? "" : " " + std::string(head.reason()));
  if (const auto it = head.find("Egressd-Decision"); it != head.end()) {
    const std::string_view v(it->value().data(), it->value().size());
    const bool visible =
        std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (visible && v.size() <= kMaxDecision) r.decision = std::string(v);
  }
  if (r.code == 200) {
    r.status = PeekStatus::done;
    r.length = used;
    return r;
  }
  if (r.code < 300) {
    return invalid(r.status_line + ": not an answer the egressd agent understands");
  }
  // A refusal: its body says why, one line for a person.
  parser.eager(true);
  while (!parser.is_done() && used < size) {
    const std::size_t n = parser.put(boost::asio::buffer(bytes.data() + used, size - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec) break;
    if (n == 0) break;
  }
  if (!parser.is_done() && !ended && !ec && bytes.size() < kMaxConnectResponse) return {};
  r.status = PeekStatus::done;
  r.body_line = first_line(parser.get().body());
  r.length = used;
  return r;
}

}  // namespace egress::peek
