#include "audit/record_fields.hpp"

#include <boost/json/basic_parser_impl.hpp>

namespace egress::audit {
namespace {

using boost::json::error_code;
using boost::json::string_view;

// The keys that matter, by where they are.
enum class Top : std::uint8_t {
  other,
  seq,
  prev,
  event,
  ts,
  src,
  dst,
  identity,
  name_source,
  host,
  name_verified,
  dns_answers,
  decision,
  reason,
  rule,
  shadow,
};

enum class Inner : std::uint8_t {
  other,
  ip,
  port,
  spiffe_id,
  uri_sans,
  dns_sans,
  cn,
  fingerprint_sha256,
  decision,
  rule,
};

Top top_key(std::string_view k) {
  switch (k.size()) {
    case 2:
      if (k == "ts") return Top::ts;
      break;
    case 3:
      if (k == "seq") return Top::seq;
      if (k == "src") return Top::src;
      if (k == "dst") return Top::dst;
      break;
    case 4:
      if (k == "prev") return Top::prev;
      if (k == "host") return Top::host;
      if (k == "rule") return Top::rule;
      break;
    case 5:
      if (k == "event") return Top::event;
      break;
    case 6:
      if (k == "reason") return Top::reason;
      if (k == "shadow") return Top::shadow;
      break;
    case 8:
      if (k == "identity") return Top::identity;
      if (k == "decision") return Top::decision;
      break;
    case 11:
      if (k == "name_source") return Top::name_source;
      if (k == "dns_answers") return Top::dns_answers;
      break;
    case 13:
      if (k == "name_verified") return Top::name_verified;
      break;
    default:
      break;
  }
  return Top::other;
}

Inner inner_key(Top parent, std::string_view k) {
  switch (parent) {
    case Top::src:
    case Top::dst:
      if (k == "ip") return Inner::ip;
      if (k == "port") return Inner::port;
      break;
    case Top::identity:
      if (k == "spiffe_id") return Inner::spiffe_id;
      if (k == "uri_sans") return Inner::uri_sans;
      if (k == "dns_sans") return Inner::dns_sans;
      if (k == "cn") return Inner::cn;
      if (k == "fingerprint_sha256") return Inner::fingerprint_sha256;
      break;
    case Top::shadow:
      if (k == "decision") return Inner::decision;
      if (k == "rule") return Inner::rule;
      break;
    default:
      break;
  }
  return Inner::other;
}

struct Handler {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  RecordFields* out = nullptr;
  int depth = 0;        // containers open
  int array_depth = 0;  // arrays among them
  bool top_is_object = false;
  Top top = Top::other;
  Inner inner = Inner::other;
  std::string part;  // a string or key split across parts

  void start(RecordFields& f) {
    out = &f;
    depth = 0;
    array_depth = 0;
    top_is_object = false;
    top = Top::other;
    inner = Inner::other;
    f.has_seq = f.has_prev = f.src.present = f.dst.present = f.has_identity = false;
    f.src.has_port = f.dst.has_port = f.src.given = f.dst.given = false;
    f.bad_identity = f.has_name_source = f.has_dns_answers = f.bad_dns_answers = false;
    f.seq = 0;
    f.src.port = f.dst.port = -1;
    for (std::string* s : {&f.prev, &f.event, &f.ts, &f.src.ip, &f.dst.ip, &f.spiffe_id, &f.cn,
                           &f.fingerprint_sha256, &f.host, &f.name_verified, &f.decision, &f.reason,
                           &f.rule, &f.shadow_decision, &f.shadow_rule}) {
      s->clear();
    }
    f.uri_sans.clear();
    f.dns_sans.clear();
    f.dns_answers.clear();
  }

  // Where a string value goes, or nullptr.
  std::string* string_slot() {
    RecordFields& f = *out;
    if (depth == 1) {
      switch (top) {
        case Top::prev:
          f.has_prev = true;
          return &f.prev;
        case Top::event:
          return &f.event;
        case Top::ts:
          return &f.ts;
        case Top::name_source:
          f.has_name_source = true;
          return nullptr;
        case Top::host:
          return &f.host;
        case Top::name_verified:
          return &f.name_verified;
        case Top::decision:
          return &f.decision;
        case Top::reason:
          return &f.reason;
        case Top::rule:
          return &f.rule;
        default:
          return nullptr;
      }
    }
    if (depth == 2 && array_depth == 1 && top == Top::dns_answers) {
      return &f.dns_answers.emplace_back();
    }
    if (depth == 2 && array_depth == 0) {
      switch (inner) {
        case Inner::ip:
          return top == Top::src ? &f.src.ip : &f.dst.ip;
        case Inner::spiffe_id:
          return &f.spiffe_id;
        case Inner::cn:
          return &f.cn;
        case Inner::fingerprint_sha256:
          return &f.fingerprint_sha256;
        case Inner::decision:
          return &f.shadow_decision;
        case Inner::rule:
          return &f.shadow_rule;
        default:
          return nullptr;
      }
    }
    if (depth == 3 && array_depth == 1 && top == Top::identity) {
      if (inner == Inner::uri_sans) return &f.uri_sans.emplace_back();
      if (inner == Inner::dns_sans) return &f.dns_sans.emplace_back();
    }
    return nullptr;
  }

  // A value other than a string where a list of strings belongs.
  void not_a_string() {
    if (depth == 2 && array_depth == 1 && top == Top::dns_answers) out->bad_dns_answers = true;
    if (depth == 3 && array_depth == 1 && top == Top::identity &&
        (inner == Inner::uri_sans || inner == Inner::dns_sans)) {
      out->bad_identity = true;
    }
    if (depth == 1 && top == Top::name_source) out->has_name_source = true;
  }

  void number(bool is_int, std::uint64_t u, bool negative) {
    if (depth == 1 && top == Top::seq && is_int && !negative && u > 0) {
      out->has_seq = true;
      out->seq = u;
      return;
    }
    if (depth == 2 && array_depth == 0 && inner == Inner::port && is_int && !negative &&
        u <= 65535) {
      auto& ep = top == Top::src ? out->src : out->dst;
      ep.has_port = true;
      ep.port = static_cast<std::int64_t>(u);
      return;
    }
    not_a_string();
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    if (depth == 0) top_is_object = true;
    if (depth == 1) {
      if (top == Top::src) out->src.present = true;
      if (top == Top::dst) out->dst.present = true;
      if (top == Top::identity) out->has_identity = true;
    }
    not_a_string_if_in_list();
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, error_code&) {
    --depth;
    return true;
  }
  bool on_array_begin(error_code&) {
    if (depth == 1 && top == Top::dns_answers) out->has_dns_answers = true;
    not_a_string_if_in_list();
    ++depth;
    ++array_depth;
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    --depth;
    --array_depth;
    return true;
  }
  void not_a_string_if_in_list() {
    if (depth >= 1) not_a_string();
  }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    part.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code&) {
    std::string_view k(s.data(), s.size());
    if (!part.empty()) {
      part.append(s.data(), s.size());
      k = part;
    }
    if (depth == 1) {
      top = top_key(k);
      inner = Inner::other;
      if (top == Top::src) out->src.given = true;
      if (top == Top::dst) out->dst.given = true;
    } else if (depth == 2 && array_depth == 0) {
      inner = inner_key(top, k);
    }
    part.clear();
    return true;
  }
  bool on_string_part(string_view s, std::size_t, error_code&) {
    part.append(s.data(), s.size());
    return true;
  }
  bool on_string(string_view s, std::size_t, error_code&) {
    if (std::string* slot = string_slot()) {
      if (part.empty()) {
        slot->assign(s.data(), s.size());
      } else {
        part.append(s.data(), s.size());
        slot->assign(part);
      }
    }
    part.clear();
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t i, string_view, error_code&) {
    number(true, static_cast<std::uint64_t>(i < 0 ? 0 : i), i < 0);
    return true;
  }
  bool on_uint64(std::uint64_t u, string_view, error_code&) {
    number(true, u, false);
    return true;
  }
  bool on_double(double, string_view, error_code&) {
    number(false, 0, false);
    return true;
  }
  bool on_bool(bool, error_code&) {
    not_a_string();
    return true;
  }
  bool on_null(error_code&) {
    not_a_string();
    return true;
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }
};

}  // namespace

struct RecordParser::Impl {
  boost::json::basic_parser<Handler> parser{boost::json::parse_options{}};
};

RecordParser::RecordParser() : impl_(std::make_unique<Impl>()) {}
RecordParser::~RecordParser() = default;

bool RecordParser::parse(std::string_view line, RecordFields& out) {
  auto& p = impl_->parser;
  p.reset();
  p.handler().start(out);
  p.handler().part.clear();
  error_code ec;
  const std::size_t n = p.write_some(false, line.data(), line.size(), ec);
  if (ec || n != line.size() || !p.done()) return false;
  return p.handler().top_is_object;
}

}  // namespace egress::audit
