#pragma once

// Internal to the HTTP readers: Beast's HTTP/1.x parser (basic_parser, the extension point Beast
// documents for custom parsers) recording only what a reader needs, and discarding bodies
// without buffering them: HeadOnlyParser, under HeadParser (the Host reader's and the request
// stream's) and the CONNECT reader's parser (connect_request.cpp). request_parser<Body> would
// keep every field in an allocated message.

#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

namespace egress::peek::detail {

/// What one request head says about its host.
struct HeadCapture {
  int version = 0;             ///< 10 or 11
  bool connect = false;        ///< CONNECT (authority-form target)
  std::string target;          ///< the request-target unless it is origin-form ("/...")
  std::string host;            ///< the first Host field's value
  unsigned host_fields = 0;    ///< Host fields in the head (trailers not counted)
  bool upgrade_field = false;  ///< an Upgrade field is present
  void clear() noexcept {
    version = 0;
    connect = false;
    target.clear();
    host.clear();
    host_fields = 0;
    upgrade_field = false;
  }
};

/// A request parser for what a request's head says: the derived class records what it needs in
/// on_request_impl and on_field_impl; this one ignores responses and skips bodies (chunked or
/// not) without buffering them.
class HeadOnlyParser : public boost::beast::http::basic_parser<true> {
 protected:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

 private:
  // basic_parser
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    return body.size();
  }
  void on_finish_impl(error_code&) override {}
};

class HeadParser final : public HeadOnlyParser {
 public:
  explicit HeadParser(HeadCapture& capture) noexcept : capture_(capture) { capture_.clear(); }

 private:
  // basic_parser
  void on_request_impl(boost::beast::http::verb method, string_view, string_view target,
                       int version, error_code&) override {
    capture_.version = version;
    capture_.connect = method == boost::beast::http::verb::connect;
    if (target.empty() || target.front() != '/')
      capture_.target.assign(target.data(), target.size());
  }
  void on_field_impl(boost::beast::http::field name, string_view, string_view value,
                     error_code&) override {
    if (is_header_done()) return;  // a chunked body's trailer section
    if (name == boost::beast::http::field::upgrade) capture_.upgrade_field = true;
    if (name != boost::beast::http::field::host) return;
    if (++capture_.host_fields == 1) capture_.host.assign(value.data(), value.size());
  }

  HeadCapture& capture_;
};

}  // namespace egress::peek::detail
