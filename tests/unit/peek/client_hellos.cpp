#include "client_hellos.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <stdexcept>

namespace egress::peek::testing {

namespace {

std::uint16_t be16(const Bytes& b, std::size_t at) {
  return static_cast<std::uint16_t>((b.at(at) << 8) | b.at(at + 1));
}
void put16(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put24(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}

}  // namespace

Bytes openssl_client_hello(const HelloOptions& options) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx) throw std::runtime_error("SSL_CTX_new");
  if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), options.max_version);
  if (options.max_send_fragment != 0)
    SSL_CTX_set_max_send_fragment(ctx.get(), static_cast<long>(options.max_send_fragment));
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  if (!options.sni.empty() && SSL_set_tlsext_host_name(ssl.get(), options.sni.c_str()) != 1)
    throw std::runtime_error("SSL_set_tlsext_host_name");
  if (options.alpn_bytes != 0) {
    // "h2", "http/1.1", then 200-byte protocol names up to the size asked for.
    Bytes alpn = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    for (int i = 0; alpn.size() + 201 <= options.alpn_bytes; ++i) {
      alpn.push_back(200);
      for (int j = 0; j < 200; ++j) alpn.push_back(static_cast<std::uint8_t>('a' + (i + j) % 26));
    }
    if (SSL_set_alpn_protos(ssl.get(), alpn.data(), static_cast<unsigned>(alpn.size())) != 0)
      throw std::runtime_error("SSL_set_alpn_protos");
  }
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);  // ssl owns both
  if (SSL_connect(ssl.get()) != -1 || SSL_get_error(ssl.get(), -1) != SSL_ERROR_WANT_READ)
    throw std::runtime_error("SSL_connect did not stop for the ServerHello");
  Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
  if (BIO_read(wbio, out.data(), static_cast<int>(out.size())) != static_cast<int>(out.size()))
    throw std::runtime_error("BIO_read");
  return out;
}

Bytes handshake_of(const Bytes& records) {
  Bytes out;
  for (std::size_t at = 0; at < records.size();) {
    if (records.at(at) != 22) throw std::runtime_error("not a handshake record");
    const std::size_t length = be16(records, at + 3);
    out.insert(out.end(), records.begin() + static_cast<std::ptrdiff_t>(at + 5),
               records.begin() + static_cast<std::ptrdiff_t>(at + 5 + length));
    at += 5 + length;
  }
  return out;
}

Bytes frame(const Bytes& message, std::size_t fragment) {
  Bytes out;
  for (std::size_t at = 0; at < message.size(); at += fragment) {
    const std::size_t n = std::min(fragment, message.size() - at);
    out.push_back(22);
    put16(out, at == 0 ? 0x0301 : 0x0303);
    put16(out, n);
    out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(at),
               message.begin() + static_cast<std::ptrdiff_t>(at + n));
  }
  return out;
}

Bytes frame_in(const Bytes& message, std::size_t count) {
  return frame(message, (message.size() + count - 1) / count);
}

Hello parse_hello(const Bytes& message) {
  if (message.at(0) != 1) throw std::runtime_error("not a ClientHello");
  std::size_t at = 4 + 2 + 32;
  at += 1 + message.at(at);     // session id
  at += 2 + be16(message, at);  // cipher suites
  at += 1 + message.at(at);     // compression methods
  Hello h;
  h.head.assign(message.begin() + 4, message.begin() + static_cast<std::ptrdiff_t>(at));
  const std::size_t end = at + 2 + be16(message, at);
  for (at += 2; at < end;) {
    const std::uint16_t type = be16(message, at);
    const std::size_t length = be16(message, at + 2);
    h.extensions.emplace_back(
        type, Bytes(message.begin() + static_cast<std::ptrdiff_t>(at + 4),
                    message.begin() + static_cast<std::ptrdiff_t>(at + 4 + length)));
    at += 4 + length;
  }
  return h;
}

Bytes Hello::message() const {
  Bytes extensions_block;
  for (const auto& [type, body] : extensions) {
    put16(extensions_block, type);
    put16(extensions_block, body.size());
    extensions_block.insert(extensions_block.end(), body.begin(), body.end());
  }
  Bytes out = {1};
  put24(out, head.size() + 2 + extensions_block.size());
  out.insert(out.end(), head.begin(), head.end());
  put16(out, extensions_block.size());
  out.insert(out.end(), extensions_block.begin(), extensions_block.end());
  return out;
}

Bytes* Hello::find(std::uint16_t type) {
  for (auto& [t, body] : extensions) {
    if (t == type) return &body;
  }
  return nullptr;
}

Bytes server_name_body(const std::vector<std::string>& names) {
  Bytes list;
  for (const auto& name : names) {
    list.push_back(0);
    put16(list, name.size());
    list.insert(list.end(), name.begin(), name.end());
  }
  Bytes out;
  put16(out, list.size());
  out.insert(out.end(), list.begin(), list.end());
  return out;
}

}  // namespace egress::peek::testing
