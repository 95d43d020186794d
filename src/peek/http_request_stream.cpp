#include "peek/http_request_stream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace egress::peek {

namespace {

namespace http = boost::beast::http;

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? char(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool is_scheme(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')))
      return false;
  }
  return true;
}

std::optional<std::uint16_t> default_port(std::string_view scheme) noexcept {
  if (ascii_iequals(scheme, "http") || ascii_iequals(scheme, "ws")) return 80;
  if (ascii_iequals(scheme, "https") || ascii_iequals(scheme, "wss")) return 443;
  return std::nullopt;
}

std::string authority_text(const HttpHost& h) {
  // append, not "[" + string: GCC 12 at -O3 reports a false -Wrestrict in that operator+.
  std::string out;
  if (h.host.find(':') != std::string::npos) {
    out.append(1, '[').append(h.host).append(1, ']');
  } else {
    out = h.host;
  }
  if (h.port) out.append(1, ':').append(std::to_string(*h.port));
  return out;
}

}  // namespace

std::string HttpRequestStream::too_large() const {
  return "request header larger than peek.max_bytes (" + std::to_string(max_head_bytes_) +
         " bytes)";
}

HttpStreamStep HttpRequestStream::fail(std::string detail, std::size_t consumed) {
  invalid_ = true;
  detail_ = std::move(detail);
  parser_.reset();
  return {HttpStreamEvent::invalid, consumed};
}

std::string HttpRequestStream::check_head() {
  host_ = HttpHost{};
  if (capture_.host_fields > 1) return "two Host header fields";
  if (capture_.host_fields == 1) {
    if (capture_.host.empty()) return "empty Host header";
    std::string problem = parse_http_authority(capture_.host, host_);
    if (!problem.empty()) return "Host header: " + problem;
  } else if (capture_.version >= 11) {
    return "HTTP/1.1 request without Host (RFC 9112 §3.2)";
  }
  if (capture_.target.empty() || (capture_.target == "*" && !capture_.connect)) return {};

  // Absolute-form (or CONNECT's authority-form): RFC 9112 §3.2.2 makes the target's authority
  // the request's host; one that disagrees with Host is a request for two places at once.
  std::string_view authority = capture_.target;
  std::optional<std::uint16_t> scheme_port;
  if (!capture_.connect) {
    const auto sep = authority.find("://");
    if (sep == std::string_view::npos || !is_scheme(authority.substr(0, sep)))
      return "request-target is neither origin-form nor an absolute URI with an authority";
    scheme_port = default_port(authority.substr(0, sep));
    authority.remove_prefix(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
  }
  std::string problem = parse_http_authority(authority, target_host_);
  if (!problem.empty()) return "request-target authority: " + problem;
  if (capture_.connect) {
    if (!target_host_.port) return "CONNECT target without a port";
    scheme_port = target_host_.port;
  }
  if (capture_.host_fields == 0) {
    host_ = target_host_;
    return {};
  }
  const auto effective = [&](const HttpHost& h) { return h.port ? h.port : scheme_port; };
  if (host_.host != target_host_.host || effective(host_) != effective(target_host_)) {
    return "request-target authority " + authority_text(target_host_) + " disagrees with Host " +
           authority_text(host_);
  }
  return {};
}

HttpStreamStep HttpRequestStream::next(std::string_view bytes) {
  if (invalid_) return {HttpStreamEvent::invalid, 0};
  if (opaque_) return {HttpStreamEvent::opaque, bytes.size()};
  std::size_t consumed = 0;
  for (;;) {
    if (!parser_) {
      parser_.emplace(capture_);
      parser_->header_limit(
          static_cast<std::uint32_t>(std::min<std::size_t>(max_head_bytes_, UINT32_MAX)));
      parser_->body_limit(boost::none);
      parser_->eager(false);
      head_parsed_ = 0;
    }
    boost::beast::error_code ec;
    if (!parser_->is_header_done()) {
      // Beast has read (and reported the fields of) the first head_parsed_ bytes already.
      if (bytes.size() - consumed < head_parsed_) {
        return fail("the stream's unconsumed bytes got shorter between calls", consumed);
      }
      const std::string_view in = bytes.substr(consumed + head_parsed_);
      if (in.empty()) return {HttpStreamEvent::need_more, consumed};
      const std::size_t n = parser_->put(boost::asio::const_buffer(in.data(), in.size()), ec);
      head_parsed_ += n;
      if (ec == http::error::need_more) {
        if (head_parsed_ + (in.size() - n) >= max_head_bytes_) return fail(too_large(), consumed);
        return {HttpStreamEvent::need_more, consumed};
      }
      if (ec == http::error::header_limit) return fail(too_large(), consumed);
      if (ec) return fail("not an HTTP/1.x request: " + ec.message(), consumed);
      if (!parser_->is_header_done()) return {HttpStreamEvent::need_more, consumed};
      // Beast counts its limit from where each put starts; a head read in pieces is counted whole.
      if (head_parsed_ > max_head_bytes_) return fail(too_large(), consumed);
      head_length_ = head_parsed_;
      ++requests_;
      // An invalid head is not consumed: none of it may go upstream.
      std::string problem = check_head();
      if (!problem.empty()) return fail(std::move(problem), consumed);
      consumed += head_parsed_;
      // RFC 9110 §7.8: a protocol switch is asked for with Upgrade and the "upgrade" option.
      if (capture_.connect || (parser_->upgrade() && capture_.upgrade_field)) {
        opaque_ = true;
        parser_.reset();
      } else if (parser_->is_done()) {
        parser_.reset();
      }
      return {HttpStreamEvent::request, consumed};
    }
    // The body: read by its framing and dropped.
    if (consumed == bytes.size()) return {HttpStreamEvent::need_more, consumed};
    const std::string_view in = bytes.substr(consumed);
    const std::size_t n = parser_->put(boost::asio::const_buffer(in.data(), in.size()), ec);
    consumed += n;
    if (ec == http::error::need_more) {
      if (bytes.size() - consumed >= max_head_bytes_) {
        return fail("chunk header or trailer larger than peek.max_bytes (" +
                        std::to_string(max_head_bytes_) + " bytes)",
                    consumed);
      }
      return {HttpStreamEvent::need_more, consumed};
    }
    if (ec) return fail("bad request body framing: " + ec.message(), consumed);
    if (parser_->is_done()) {
      parser_.reset();
      continue;
    }
    if (n == 0) return {HttpStreamEvent::need_more, consumed};
  }
}

}  // namespace egress::peek
