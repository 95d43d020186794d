#include "peek/client_hello_reader.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "peek/hostname.hpp"
#include "peek/quoted_bytes.hpp"

namespace egress::peek {

namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kMaxRecordPayload = 1u << 14;  // RFC 8446 §5.1
constexpr std::uint16_t kServerName = 0x0000;
constexpr std::uint16_t kEncryptedClientHello = 0xfe0d;  // draft-ietf-tls-esni

std::string hex16(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04x", v & 0xffffu);
  return buf;
}

// Client bytes for a detail: at most 64 of them, quoted.
std::string printable(std::string_view bytes) {
  return quoted_bytes(bytes, 64);
}

// Reads the handshake message's bytes in order across its records, skipping the record headers
// between fragments. The framing pass has checked every record header it meets, and every read is
// bounds-checked against the message by MessageParser first, so it never leaves the message.
class MessageCursor {
 public:
  explicit MessageCursor(const std::uint8_t* stream) noexcept : p_(stream) {}

  std::uint8_t byte() noexcept {
    if (record_left_ == 0) next_record();
    --record_left_;
    return p_[pos_++];
  }
  void copy(std::uint8_t* out, std::size_t n) noexcept {
    while (n > 0) {
      if (record_left_ == 0) next_record();
      const std::size_t k = std::min(n, record_left_);
      std::copy_n(p_ + pos_, k, out);
      out += k, pos_ += k, record_left_ -= k, n -= k;
    }
  }
  void skip(std::size_t n) noexcept {
    while (n > 0) {
      if (record_left_ == 0) next_record();
      const std::size_t k = std::min(n, record_left_);
      pos_ += k, record_left_ -= k, n -= k;
    }
  }

 private:
  void next_record() noexcept {
    record_left_ = (std::size_t{p_[pos_ + 3]} << 8) | p_[pos_ + 4];
    pos_ += kRecordHeader;
  }
  const std::uint8_t* p_;
  std::size_t pos_ = 0;
  std::size_t record_left_ = 0;
};

// The ClientHello body after its 4-byte header, field by field; the first problem ends it.
class MessageParser {
 public:
  MessageParser(const std::uint8_t* stream, std::size_t message_size, ClientHelloResult& out)
      : cursor_(stream), size_(message_size), out_(out) {
    cursor_.skip(4);
  }

  // An empty string when the message is a well-formed ClientHello; else the detail.
  std::string run() {
    unsigned version = 0;
    if (!u16(size_, version, "legacy_version")) return error_;
    if (version < 0x0301 || version > 0x0303)
      return "ClientHello legacy_version " + hex16(version) + " is not TLS 1.0-1.2";
    if (!skip(size_, 32, "random")) return error_;
    unsigned n = 0;
    if (!u8(size_, n, "legacy_session_id length")) return error_;
    if (n > 32) return "legacy_session_id of " + std::to_string(n) + " bytes (at most 32)";
    if (!skip(size_, n, "legacy_session_id")) return error_;
    if (!u16(size_, n, "cipher_suites length")) return error_;
    if (n < 2 || n % 2 != 0) return "cipher_suites length " + std::to_string(n) + " is odd or 0";
    if (!skip(size_, n, "cipher_suites")) return error_;
    if (!u8(size_, n, "compression_methods length")) return error_;
    if (n < 1) return "empty compression_methods";
    if (!skip(size_, n, "compression_methods")) return error_;
    if (off_ == size_) return {};  // TLS 1.0-1.2 allow no extensions at all
    if (!u16(size_, n, "extensions length")) return error_;
    if (off_ + n != size_) {
      return "extensions length " + std::to_string(n) + " disagrees with the " +
             std::to_string(size_ - off_) + " bytes left in the ClientHello";
    }
    bool sni_seen = false;
    while (off_ < size_) {
      unsigned type = 0;
      unsigned length = 0;
      if (!u16(size_, type, "extension type") || !u16(size_, length, "extension length"))
        return error_;
      if (off_ + length > size_) {
        return "extension " + hex16(type) + " length " + std::to_string(length) +
               " runs past the extensions block";
      }
      const std::size_t end = off_ + length;
      if (type == kServerName) {
        if (sni_seen) return "server_name extension appears twice";
        sni_seen = true;
        std::string problem = server_name(end);
        if (!problem.empty()) return problem;
      } else {
        if (type == kEncryptedClientHello) {
          if (out_.ech) return "encrypted_client_hello extension appears twice";
          out_.ech = true;
        }
        skip(end, length, "extension");
      }
    }
    return {};
  }

 private:
  // RFC 6066 §3: ServerNameList server_name_list<1..2^16-1>; only host_name (0) has a defined
  // body, so an entry of another type cannot be parsed past and is refused.
  std::string server_name(std::size_t end) {
    unsigned list = 0;
    if (!u16(end, list, "server_name list length")) return error_;
    if (off_ + list != end) {
      return "server_name list length " + std::to_string(list) +
             " disagrees with the extension's " + std::to_string(end - off_ + 2) + " bytes";
    }
    if (list == 0) return "empty server_name list";
    bool host_seen = false;
    while (off_ < end) {
      unsigned type = 0;
      if (!u8(end, type, "server_name entry type")) return error_;
      if (type != 0) return "server_name entry of unknown type " + std::to_string(type);
      if (host_seen) return "server_name list has two host_name entries";
      host_seen = true;
      unsigned length = 0;
      if (!u16(end, length, "host_name length")) return error_;
      if (off_ + length > end) {
        return "host_name length " + std::to_string(length) + " runs past the server_name list";
      }
      if (length == 0) return "empty SNI host_name";
      if (length > kMaxHostnameLength + 1) {
        return "SNI host_name of " + std::to_string(length) + " bytes (at most 253)";
      }
      char name[kMaxHostnameLength + 1];
      cursor_.copy(reinterpret_cast<std::uint8_t*>(name), length);
      off_ += length;
      const std::string_view raw(name, length);
      normalize_hostname_into(raw, out_.sni);
      if (is_ip_literal(out_.sni)) {
        return "SNI host_name " + printable(raw) + " is an IP literal (RFC 6066 §3: names only)";
      }
      const std::string_view why = hostname_error(raw);
      if (!why.empty()) {
        return "SNI host_name " + printable(raw) + " is not a DNS name: " + std::string(why);
      }
    }
    return {};
  }

  bool need(std::size_t end, std::size_t n, const char* what) {
    if (off_ + n <= end) return true;
    error_ = std::string(what) + (end == size_ ? " runs past the end of the ClientHello"
                                               : " runs past the end of its extension");
    return false;
  }
  bool u8(std::size_t end, unsigned& v, const char* what) {
    if (!need(end, 1, what)) return false;
    v = cursor_.byte();
    off_ += 1;
    return true;
  }
  bool u16(std::size_t end, unsigned& v, const char* what) {
    if (!need(end, 2, what)) return false;
    v = unsigned{cursor_.byte()} << 8;
    v |= cursor_.byte();
    off_ += 2;
    return true;
  }
  bool skip(std::size_t end, std::size_t n, const char* what) {
    if (!need(end, n, what)) return false;
    cursor_.skip(n);
    off_ += n;
    return true;
  }

  MessageCursor cursor_;
  std::size_t size_;
  std::size_t off_ = 4;
  ClientHelloResult& out_;
  std::string error_;
};

}  // namespace

const ClientHelloResult& ClientHelloReader::fail(std::string detail) {
  result_.status = PeekStatus::invalid;
  result_.sni.clear();
  result_.ech = false;
  result_.detail = std::move(detail);
  return result_;
}

const ClientHelloResult& ClientHelloReader::read(std::span<const std::uint8_t> prefix) {
  if (result_.status != PeekStatus::need_more) return result_;
  if (prefix.size() < framed_) return fail("the stream's prefix got shorter between reads");
  for (;;) {
    const std::size_t left = total_ == 0 ? 4 - std::min<std::size_t>(seen_, 4) : total_ - seen_;
    if (framed_ == record_end_) {
      // The message cannot end before the next record's header and one more byte.
      if (framed_ + kRecordHeader + left > max_bytes_) {
        return fail("ClientHello larger than peek.max_bytes (" + std::to_string(max_bytes_) +
                    " bytes)");
      }
      if (prefix.size() < framed_ + kRecordHeader) return result_;
      const std::uint8_t* h = prefix.data() + framed_;
      ++records_;
      if (h[0] != kHandshakeRecord) {
        if (records_ == 1) {
          return fail("not a TLS handshake record (content type " + std::to_string(h[0]) +
                      ", expected 22)");
        }
        return fail("record " + std::to_string(records_) + " of the ClientHello has content type " +
                    std::to_string(h[0]) + ", not handshake (22)");
      }
      const unsigned version = (unsigned{h[1]} << 8) | h[2];
      if (version < 0x0301 || version > 0x0303) {
        return fail("record " + std::to_string(records_) + " version " + hex16(version) +
                    " is not TLS 1.0-1.2");
      }
      const std::size_t length = (std::size_t{h[3]} << 8) | h[4];
      if (length == 0) {
        return fail("record " + std::to_string(records_) +
                    " is an empty handshake record (RFC 8446 §5.1)");
      }
      if (length > kMaxRecordPayload) {
        return fail("record " + std::to_string(records_) + " length " + std::to_string(length) +
                    " exceeds 2^14");
      }
      framed_ += kRecordHeader;
      record_end_ = framed_ + length;
    }
    const std::size_t available = std::min(prefix.size(), record_end_) - framed_;
    const std::size_t take = std::min(available, left);
    for (std::size_t i = 0; seen_ + i < 4 && i < take; ++i)
      header_[seen_ + i] = prefix[framed_ + i];
    const bool header_was_partial = seen_ < 4;
    framed_ += take;
    seen_ += take;
    if (seen_ >= 1 && header_[0] != kClientHello) {
      return fail("handshake message type " + std::to_string(header_[0]) +
                  " is not ClientHello (1)");
    }
    if (header_was_partial && seen_ >= 4) {
      total_ = 4 + ((std::size_t{header_[1]} << 16) | (std::size_t{header_[2]} << 8) | header_[3]);
      if (framed_ + (total_ - seen_) > max_bytes_) {
        return fail("ClientHello larger than peek.max_bytes (" + std::to_string(max_bytes_) +
                    " bytes)");
      }
    }
    if (total_ != 0 && seen_ == total_) return parse(prefix);
    if (take == 0) return result_;  // waiting for this record's next bytes
  }
}

const ClientHelloResult& ClientHelloReader::parse(std::span<const std::uint8_t> prefix) {
  MessageParser parser(prefix.data(), total_, result_);
  std::string problem = parser.run();
  if (!problem.empty()) return fail(std::move(problem));
  result_.status = PeekStatus::done;
  result_.length = framed_;
  return result_;
}

ClientHelloResult read_client_hello(std::span<const std::uint8_t> bytes, std::size_t max_bytes) {
  ClientHelloReader reader(max_bytes);
  return reader.read(bytes);
}

}  // namespace egress::peek
