#include "audit/summary.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "audit/encoder.hpp"
#include "audit/line_reader.hpp"
#include "clock/rfc3339.hpp"

namespace egress::audit {
namespace {

namespace json = boost::json;

std::string_view str_at(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view{};
}

std::uint64_t uint_at(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() > 0) return static_cast<std::uint64_t>(v->get_int64());
  return 0;
}

std::string endpoint_text(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || !v->is_object()) return {};
  const auto ip = str_at(v->get_object(), "ip");
  const auto port = uint_at(v->get_object(), "port");
  const bool v6 = ip.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(ip) + "]" : std::string(ip)) + ":" + std::to_string(port);
}

std::string identity_key(const json::object& rec) {
  if (const auto* id = rec.if_contains("identity"); id != nullptr && id->is_object()) {
    const auto& o = id->get_object();
    if (auto s = str_at(o, "spiffe_id"); !s.empty()) return std::string(s);
    for (const char* list : {"uri_sans", "dns_sans"}) {
      if (const auto* a = o.if_contains(list); a != nullptr && a->is_array() &&
                                               !a->get_array().empty() &&
                                               a->get_array()[0].is_string()) {
        return std::string(a->get_array()[0].get_string());
      }
    }
    if (auto s = str_at(o, "cn"); !s.empty()) return "cn:" + std::string(s);
    if (auto s = str_at(o, "fingerprint_sha256"); !s.empty()) return "sha256:" + std::string(s);
  }
  if (const auto* src = rec.if_contains("src"); src != nullptr && src->is_object()) {
    return "src:" + std::string(str_at(src->get_object(), "ip"));
  }
  return "unknown";
}

std::vector<Count> top(const std::unordered_map<std::string, std::uint64_t>& counts,
                       std::size_t n) {
  std::vector<Count> out;
  out.reserve(counts.size());
  for (const auto& [k, c] : counts) out.push_back({k, c});
  std::sort(out.begin(), out.end(), [](const Count& a, const Count& b) {
    return a.count != b.count ? a.count > b.count : a.key < b.key;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

/// The join key of a decision and its close: conn_id ("<instance>-<counter>"; a number,
/// unique only within one run, in older logs).
std::string conn_key(const json::object& rec) {
  const auto* v = rec.if_contains("conn_id");
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

struct Counter {
  Summary s;
  std::unordered_map<std::string, std::uint64_t> denied_identities, denied_destinations, shadows;
  std::unordered_map<std::string, RuleCount> rules;
  std::unordered_set<std::string> open;  ///< conn_ids allowed and not yet closed
  std::optional<Clock::time_point> first, last;
};

void count_record(Counter& c, const json::object& rec, Clock::time_point ts,
                  std::string_view ts_text) {
  Summary& s = c.s;
  ++s.records;
  if (!c.first || ts < *c.first) {
    c.first = ts;
    s.first_ts = ts_text;
  }
  if (!c.last || ts > *c.last) {
    c.last = ts;
    s.last_ts = ts_text;
  }
  const auto event = str_at(rec, "event");
  ++s.events[std::string(event)];
  const auto gateway = str_at(rec, "gateway");
  ++s.gateways[gateway.empty() ? std::string("-") : std::string(gateway)];
  s.records_dropped += uint_at(rec, "records_dropped");
  if (event == "connection.decision") {
    const std::string decision(str_at(rec, "decision"));
    ++s.decisions[decision];
    ++s.reasons[decision + "/" + std::string(str_at(rec, "reason"))];
    if (decision == "allow") c.open.insert(conn_key(rec));
    if (const auto rule = str_at(rec, "rule"); !rule.empty()) {
      auto& rc = c.rules[std::string(rule)];
      rc.rule = rule;
      (decision == "allow" ? rc.allow : rc.deny) += 1;
    }
    if (decision == "deny") {
      ++c.denied_identities[identity_key(rec)];
      if (auto dst = endpoint_text(rec, "dst"); !dst.empty()) ++c.denied_destinations[dst];
    }
    if (const auto* sh = rec.if_contains("shadow"); sh != nullptr && sh->is_object()) {
      ++s.shadow_differences;
      const auto& o = sh->get_object();
      std::string key = decision + " -> " + std::string(str_at(o, "decision"));
      if (auto r = str_at(o, "rule"); !r.empty()) key += " (rule " + std::string(r) + ")";
      ++c.shadows[key];
    }
  } else if (event == "connection.close") {
    c.open.erase(conn_key(rec));
    s.bytes_up += uint_at(rec, "bytes_up");
    s.bytes_down += uint_at(rec, "bytes_down");
  } else if (event == "policy.reload") {
    ++s.reloads[std::string(str_at(rec, "result"))];
  }
}

}  // namespace

std::optional<Clock::time_point> parse_time(std::string_view t) {
  if (t.size() == 10) return clock::parse_rfc3339(std::string(t) + "T00:00:00Z");  // a bare date
  return clock::parse_rfc3339(t);
}

Summary summarize(const std::vector<std::string>& files, const SummaryOptions& options,
                  std::string& error) {
  Counter c;
  LineReader reader(files);  // plain or .gz, oldest first
  {
    for (std::string_view line; reader.next(line);) {
      if (line.empty()) continue;
      boost::system::error_code ec;
      auto value = json::parse(line, ec);
      const auto* rec = ec ? nullptr : value.if_object();
      const auto ts_text = rec != nullptr ? str_at(*rec, "ts") : std::string_view{};
      const auto ts = parse_time(ts_text);
      if (rec == nullptr || !ts) {
        ++c.s.malformed;
        continue;
      }
      if ((options.since && *ts < *options.since) || (options.until && *ts >= *options.until)) {
        ++c.s.out_of_range;
        continue;
      }
      count_record(c, *rec, *ts, ts_text);
    }
  }
  if (!reader.error().empty()) error = reader.error();
  c.s.top_denied_identities = top(c.denied_identities, options.top);
  c.s.top_denied_destinations = top(c.denied_destinations, options.top);
  c.s.top_shadow_differences = top(c.shadows, options.top);
  for (auto& [k, rc] : c.rules) c.s.top_rules.push_back(rc);
  std::sort(c.s.top_rules.begin(), c.s.top_rules.end(), [](const RuleCount& a, const RuleCount& b) {
    const auto ta = a.allow + a.deny, tb = b.allow + b.deny;
    return ta != tb ? ta > tb : a.rule < b.rule;
  });
  if (c.s.top_rules.size() > options.top) c.s.top_rules.resize(options.top);
  c.s.allowed_without_close = c.open.size();
  return c.s;
}

std::string to_text(const Summary& s) {
  std::ostringstream o;
  o << "records: " << s.records;
  if (s.out_of_range > 0) o << " (" << s.out_of_range << " outside --since/--until)";
  if (s.malformed > 0) o << " (" << s.malformed << " malformed lines skipped)";
  o << "\n";
  if (s.records > 0) o << "time range: " << s.first_ts << " .. " << s.last_ts << "\n";
  const auto map_line = [&](const char* title, const std::map<std::string, std::uint64_t>& m) {
    if (m.empty()) return;
    o << title << ":";
    for (const auto& [k, v] : m) o << " " << k << "=" << v;
    o << "\n";
  };
  map_line("events", s.events);
  map_line("gateways", s.gateways);
  map_line("decisions", s.decisions);
  map_line("reasons", s.reasons);
  map_line("policy reloads", s.reloads);
  const auto list = [&](const char* title, const std::vector<Count>& v) {
    if (v.empty()) return;
    o << title << ":\n";
    for (const auto& c : v) o << "  " << c.count << "  " << c.key << "\n";
  };
  list("top denied identities", s.top_denied_identities);
  list("top denied destinations", s.top_denied_destinations);
  if (!s.top_rules.empty()) {
    o << "top rules:\n";
    for (const auto& r : s.top_rules) {
      o << "  " << (r.allow + r.deny) << "  " << r.rule << " (allow " << r.allow << ", deny "
        << r.deny << ")\n";
    }
  }
  o << "shadow differences: " << s.shadow_differences << "\n";
  list("top shadow differences", s.top_shadow_differences);
  if (s.allowed_without_close > 0) {
    o << "allowed without a close record: " << s.allowed_without_close
      << " (still open at the end, or the close was lost)\n";
  }
  if (s.records_dropped > 0) o << "records dropped by the writer: " << s.records_dropped << "\n";
  if (s.bytes_up > 0 || s.bytes_down > 0) {
    o << "bytes: up " << s.bytes_up << ", down " << s.bytes_down << "\n";
  }
  return o.str();
}

json::object to_json(const Summary& s) {
  const auto map = [](const std::map<std::string, std::uint64_t>& m) {
    json::object o;
    for (const auto& [k, v] : m) o[k] = v;
    return o;
  };
  const auto list = [](const std::vector<Count>& v, const char* key_name) {
    json::array a;
    for (const auto& c : v) a.push_back(json::object{{key_name, c.key}, {"count", c.count}});
    return a;
  };
  json::array rules;
  for (const auto& r : s.top_rules) {
    rules.push_back(json::object{{"rule", r.rule}, {"allow", r.allow}, {"deny", r.deny}});
  }
  json::object o;
  o["records"] = s.records;
  o["out_of_range"] = s.out_of_range;
  o["malformed"] = s.malformed;
  o["first_ts"] = s.first_ts.empty() ? json::value(nullptr) : json::value(s.first_ts);
  o["last_ts"] = s.last_ts.empty() ? json::value(nullptr) : json::value(s.last_ts);
  o["events"] = map(s.events);
  o["gateways"] = map(s.gateways);
  o["allowed_without_close"] = s.allowed_without_close;
  o["decisions"] = map(s.decisions);
  o["reasons"] = map(s.reasons);
  o["policy_reloads"] = map(s.reloads);
  o["top_denied_identities"] = list(s.top_denied_identities, "identity");
  o["top_denied_destinations"] = list(s.top_denied_destinations, "destination");
  o["top_rules"] = std::move(rules);
  o["shadow_differences"] = s.shadow_differences;
  o["top_shadow_differences"] = list(s.top_shadow_differences, "difference");
  o["records_dropped"] = s.records_dropped;
  o["bytes_up"] = s.bytes_up;
  o["bytes_down"] = s.bytes_down;
  return o;
}

}  // namespace egress::audit
