#include "peek/connect_request.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdio>
#include <string_view>

#include "peek/http_head_parser.hpp"
#include "peek/http_host.hpp"
#include "peek/quoted_bytes.hpp"

namespace egress::peek {

namespace {

namespace http = boost::beast::http;

constexpr std::size_t kMaxAgentConn = 128;
constexpr std::size_t kMaxQuoted = 48;

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Client bytes for a detail: at most kMaxQuoted of them, quoted.
std::string quoted(std::string_view text) {
  return quoted_bytes(text, kMaxQuoted);
}

std::string hex8(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", v & 0xffu);
  return buf;
}

// RFC 9110 §5.6.2: tchar, the bytes of a method. Beast does not skip the empty lines RFC 9112 §2.2
// lets a server ignore before the request line, so a CR or LF first cannot start one either.
bool can_start_request(std::uint8_t c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Beast's HTTP/1.x parser (basic_parser, the extension point Beast documents for custom parsers)
// keeping only what the tunnel needs; request_parser<Body> would keep every field, the
// Proxy-Authorization credential among them.
struct Parser final : detail::HeadOnlyParser {
  int version = 0;
  std::string method;  // at most kMaxQuoted + 1 bytes: enough to quote
  bool connect = false;
  std::string target;
  unsigned host_fields = 0;
  std::string host;
  unsigned agent_conn_fields = 0;
  std::string agent_conn;

 private:
  // basic_parser
  void on_request_impl(http::verb verb, string_view method_text, string_view target_text,
                       int http_version, error_code&) override {
    version = http_version;
    connect = verb == http::verb::connect;
    method.assign(method_text.data(), std::min(method_text.size(), kMaxQuoted + 1));
    target.assign(target_text.data(), target_text.size());
  }
  void on_field_impl(http::field name, string_view name_text, string_view value,
                     error_code&) override {
    if (name == http::field::host) {
      if (++host_fields == 1) host.assign(value.data(), value.size());
    } else if (name == http::field::unknown &&
               ascii_iequals({name_text.data(), name_text.size()}, "egressd-agent-conn")) {
      if (++agent_conn_fields == 1)
        agent_conn.assign(value.data(), std::min(value.size(), kMaxAgentConn + 1));
    }
  }
};

}  // namespace

const ConnectRequest& ConnectRequestReader::fail(int status_code, std::string detail) {
  result_ = ConnectRequest{};
  result_.status = PeekStatus::invalid;
  result_.status_code = status_code;
  result_.detail = std::move(detail);
  return result_;
}

const ConnectRequest& ConnectRequestReader::read(std::span<const std::uint8_t> prefix) {
  if (result_.status != PeekStatus::need_more) return result_;
  if (prefix.size() < seen_) return fail(400, "the stream's prefix got shorter between reads");
  seen_ = prefix.size();
  if (prefix.empty()) return result_;
  if (!can_start_request(prefix[0])) {
    return fail(
        400, "not an HTTP/1.x request: first byte " + hex8(prefix[0]) + " cannot start a method");
  }
  // The head ends at the first CRLF CRLF (RFC 9112 §2.1), looked for in the first max_head_bytes.
  const std::size_t limit = std::min(prefix.size(), max_head_bytes_);
  static constexpr std::uint8_t kEnd[4] = {'\r', '\n', '\r', '\n'};
  const auto window = prefix.subspan(searched_, limit - std::min(searched_, limit));
  const auto end = std::search(window.begin(), window.end(), std::begin(kEnd), std::end(kEnd));
  if (end != window.end()) {
    return parse(prefix.first(static_cast<std::size_t>(end - prefix.begin()) + 4));
  }
  if (prefix.size() >= max_head_bytes_) {
    return fail(431, "request header larger than " + std::to_string(max_head_bytes_) + " bytes");
  }
  searched_ = limit < 3 ? 0 : limit - 3;
  return result_;
}

const ConnectRequest& ConnectRequestReader::parse(std::span<const std::uint8_t> head) {
  Parser p;
  p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(head.size(), UINT32_MAX)));
  p.eager(false);
  boost::beast::error_code ec;
  const std::size_t n = p.put(boost::asio::const_buffer(head.data(), head.size()), ec);
  if (ec) return fail(400, "not an HTTP/1.x request: " + ec.message());
  // Beast's end of the head is the first CRLF CRLF too: anything else would be a disagreement
  // about where the tunnel starts.
  if (!p.is_header_done() || n != head.size())
    return fail(400, "not an HTTP/1.x request: the head does not end at its first blank line");
  if (!p.connect) {
    return fail(405, "method " + quoted(p.method) + " is not CONNECT (this listener is a tunnel)");
  }
  const std::string target = "CONNECT target " + quoted(p.target);
  // RFC 9110 §9.3.6: authority-form only, and RFC 9112 §3.2.3: that is host ":" port.
  if (p.target.find('/') != std::string::npos)
    return fail(400, target + " is not host:port (authority-form, RFC 9110 §9.3.6)");
  HttpHost authority;
  if (std::string problem = parse_http_authority(p.target, authority); !problem.empty())
    return fail(400, target + ": " + problem);
  if (!authority.port) return fail(400, target + " has no port");
  if (p.host_fields > 1) return fail(400, "two Host header fields");
  if (p.host_fields == 1) {
    HttpHost host;
    if (std::string problem = parse_http_authority(p.host, host); !problem.empty())
      return fail(400, "Host header " + quoted(p.host) + ": " + problem);
    if (host.host != authority.host || (host.port && host.port != authority.port)) {
      return fail(400, "Host " + quoted(p.host) + " disagrees with the " + target);
    }
  }
  if (p.chunked() || (p.content_length() && *p.content_length() != 0))
    return fail(400, "a CONNECT request with content (RFC 9110 §9.3.6: it has none)");
  if (p.agent_conn_fields > 1) return fail(400, "two Egressd-Agent-Conn header fields");
  if (p.agent_conn_fields == 1) {
    if (p.agent_conn.empty() || p.agent_conn.size() > kMaxAgentConn)
      return fail(400, "Egressd-Agent-Conn is not 1-128 bytes");
    for (const char c : p.agent_conn) {
      if (c < 0x21 || c > 0x7e)
        return fail(400, "Egressd-Agent-Conn " + quoted(p.agent_conn) + " is not visible ASCII");
    }
  }

  ConnectRequest r;
  r.status = PeekStatus::done;
  if (authority.ip_literal) {
    r.address = base::IpAddress::parse(authority.host);
  } else {
    r.name = std::move(authority.host);
  }
  r.port = *authority.port;
  r.version = p.version;
  r.length = head.size();
  if (p.agent_conn_fields == 1) r.agent_conn = p.agent_conn;
  result_ = std::move(r);
  return result_;
}

ConnectRequest read_connect_request(std::span<const std::uint8_t> bytes,
                                    std::size_t max_head_bytes) {
  ConnectRequestReader reader(max_head_bytes);
  return reader.read(bytes);
}

}  // namespace egress::peek
