#include "policy/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <tuple>

#include "clock/rfc3339.hpp"
#include "yaml/reader.hpp"

namespace egress::policy {

namespace {

using yaml::index_path;
using yaml::Map;
using yaml::Reader;

/// Calls `each(item, item_path, text)` for every string of the list (or lone scalar, when
/// `allow_scalar`) at `n`; `each` reports its own errors and returns false for a bad item. Every
/// item is read, so one load reports every bad one. False when the list or any item was bad.
template <class Each>
bool for_each_string(Reader& r, const YAML::Node& n, const std::string& path, bool allow_scalar,
                     std::size_t& count, Each each) {
  auto items = r.list(n, path, allow_scalar);
  if (!items) return false;
  count = items->size();
  bool ok = true;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto& item = (*items)[i];
    const std::string p = n.IsSequence() ? index_path(path, i) : path;
    auto text = r.string(item, p);
    if (!text || !each(item, p, *text)) ok = false;
  }
  return ok;
}

std::optional<std::vector<Cidr>> read_cidrs(Reader& r, const YAML::Node& n, const std::string& path,
                                            bool allow_scalar) {
  std::vector<Cidr> out;
  std::size_t count = 0;
  const bool ok =
      for_each_string(r, n, path, allow_scalar, count,
                      [&](const YAML::Node& item, const std::string& p, const std::string& text) {
                        if (text.starts_with("builtin:")) {
                          const auto* set = builtin_set(text);
                          if (!set) {
                            r.error(item, p,
                                    "unknown built-in set \"" + text +
                                        "\" (known: builtin:non_public, builtin:metadata)");
                            return false;
                          }
                          out.insert(out.end(), set->begin(), set->end());
                          return true;
                        }
                        auto c = parse_cidr(text);
                        if (!c.cidr) {
                          r.error(item, p, c.error);
                          return false;
                        }
                        out.push_back(*c.cidr);
                        return true;
                      });
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::uint32_t> port_number(std::string_view s) {
  std::uint32_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<PortSet> read_ports(Reader& r, const YAML::Node& n, const std::string& path) {
  PortSet out;
  std::size_t count = 0;
  const bool ok = for_each_string(
      r, n, path, true, count,
      [&](const YAML::Node& item, const std::string& p, const std::string& text) {
        const auto dash = text.find('-', 1);
        std::optional<std::uint32_t> lo, hi;
        if (dash == std::string::npos) {
          lo = hi = port_number(text);
        } else {
          lo = port_number(std::string_view(text).substr(0, dash));
          hi = port_number(std::string_view(text).substr(dash + 1));
        }
        if (!lo || !hi) {
          r.error(item, p, "\"" + text + "\" is not a port number or an inclusive \"lo-hi\" range");
          return false;
        }
        if (*lo < 1 || *lo > 65535 || *hi < 1 || *hi > 65535) {
          r.error(item, p, "port \"" + text + "\" is outside 1-65535");
          return false;
        }
        if (*lo > *hi) {
          r.error(item, p,
                  "port range \"" + text + "\" is reversed; did you mean \"" + std::to_string(*hi) +
                      "-" + std::to_string(*lo) + "\"?");
          return false;
        }
        out.add(static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi));
        return true;
      });
  if (!ok) return std::nullopt;
  if (count == 0) {
    r.error(n, path, "empty port list (leave ports out to allow every port)");
    return std::nullopt;
  }
  out.normalize();
  return out;
}

std::optional<std::vector<HostPattern>> read_hosts(Reader& r, const YAML::Node& n,
                                                   const std::string& path) {
  std::vector<HostPattern> out;
  std::size_t count = 0;
  const bool ok =
      for_each_string(r, n, path, true, count,
                      [&](const YAML::Node& item, const std::string& p, const std::string& text) {
                        auto h = parse_host_pattern(text);
                        if (!h.pattern) {
                          r.error(item, p, h.error);
                          return false;
                        }
                        h.pattern->pos = r.position(item);
                        out.push_back(std::move(*h.pattern));
                        return true;
                      });
  if (!ok) return std::nullopt;
  if (count == 0) {
    r.error(n, path, "empty hosts list (leave hosts out to match any name)");
    return std::nullopt;
  }
  return out;
}

std::optional<HostVerification> read_host_verification(Reader& r, const YAML::Node& n,
                                                       const std::string& path) {
  auto s = r.string(n, path);
  if (!s) return std::nullopt;
  if (*s == "strict") return HostVerification::strict;
  if (*s == "report") return HostVerification::report;
  if (*s == "off") return HostVerification::off;
  r.error(n, path, "expected strict, report or off, found \"" + *s + "\"");
  return std::nullopt;
}

std::optional<StringPattern> read_pattern(Reader& r, const YAML::Node& n, const std::string& path,
                                          PatternParse (*parse)(std::string_view)) {
  auto text = r.string(n, path);
  if (!text) return std::nullopt;
  auto p = parse(*text);
  if (!p.pattern) {
    r.error(n, path, p.error);
    return std::nullopt;
  }
  return p.pattern;
}

// Reads `any: true`; `any: false` is an error (it would read as "matches nothing").
bool read_any(Reader& r, const Map& m, std::size_t field_count) {
  auto v = m.find("any");
  if (!v) return false;
  auto b = r.boolean(*v, m.path("any"));
  if (b && !*b) {
    r.error(*v, m.path("any"), "any: false is not allowed; remove the entry instead");
  } else if (b && field_count > 1) {
    r.error(*v, m.path("any"), "any: true cannot be combined with other fields");
  }
  return b.value_or(false);
}

std::optional<model::PrincipalEntry> read_principal(Reader& r, const YAML::Node& n,
                                                    const std::string& path, bool allow_role) {
  Map m = allow_role ? Map(r, n, path, "a principal entry",
                           {"identity", "dns_name", "common_name", "source", "role", "any"})
                     : Map(r, n, path, "a role member",
                           {"identity", "dns_name", "common_name", "source", "any"});
  if (!m.ok()) return std::nullopt;
  const auto before = r.error_count();
  model::PrincipalEntry e;
  e.pos = r.position(n);
  if (m.size() == 0) {
    r.error(n, path, "empty entry; the wildcard is written {any: true}");
    return std::nullopt;
  }
  e.any = read_any(r, m, m.size());
  if (auto v = m.find("identity"))
    e.identity = read_pattern(r, *v, m.path("identity"), parse_identity_pattern);
  if (auto v = m.find("dns_name"))
    e.dns_name = read_pattern(r, *v, m.path("dns_name"), parse_dns_pattern);
  if (auto v = m.find("common_name"))
    e.common_name = read_pattern(r, *v, m.path("common_name"), parse_cn_pattern);
  if (auto v = m.find("source")) e.source = read_cidrs(r, *v, m.path("source"), true);
  if (auto v = m.find("role")) {
    e.role = r.string(*v, m.path("role"));
    e.role_pos = r.position(*v);
  }
  if (r.error_count() != before) return std::nullopt;
  return e;
}

std::optional<model::DestinationEntry> read_destination_entry(Reader& r, const YAML::Node& n,
                                                              const std::string& path) {
  Map m(r, n, path, "a destination entry",
        {"hosts", "cidrs", "except", "ports", "destination", "any"});
  if (!m.ok()) return std::nullopt;
  const auto before = r.error_count();
  model::DestinationEntry e;
  e.pos = r.position(n);
  if (m.size() == 0) {
    r.error(n, path, "empty entry; the wildcard is written {any: true}");
    return std::nullopt;
  }
  e.any = read_any(r, m, m.size());
  if (auto v = m.find("cidrs")) e.cidrs = read_cidrs(r, *v, m.path("cidrs"), true);
  if (auto v = m.find("except")) {
    if (auto c = read_cidrs(r, *v, m.path("except"), true)) e.except = std::move(*c);
  }
  if (auto v = m.find("ports")) e.ports = read_ports(r, *v, m.path("ports"));
  if (auto v = m.find("destination")) {
    e.destination = r.string(*v, m.path("destination"));
    e.destination_pos = r.position(*v);
  }
  if (auto v = m.find("hosts")) e.hosts = read_hosts(r, *v, m.path("hosts"));
  if (r.error_count() != before) return std::nullopt;
  return e;
}

std::optional<std::string> read_name(Reader& r, Map& m, std::string_view key) {
  auto v = m.require(key);
  if (!v) return std::nullopt;
  auto s = r.string(*v, m.path(key));
  if (s && s->empty()) {
    r.error(*v, m.path(key), std::string(key) + " must not be empty");
    return std::nullopt;
  }
  return s;
}

template <class T, class F>
std::vector<T> read_entries(Reader& r, Map& m, std::string_view key, F&& read_one) {
  std::vector<T> out;
  auto v = m.require(key);
  if (!v) return out;
  const std::string path = m.path(key);
  auto items = r.list(*v, path, false);
  if (!items) return out;
  if (items->empty()) {
    r.error(*v, path, "empty " + std::string(key) + " (write [{any: true}] for everyone)");
    return out;
  }
  for (std::size_t i = 0; i < items->size(); ++i) {
    if (auto e = read_one((*items)[i], index_path(path, i))) out.push_back(std::move(*e));
  }
  return out;
}

std::optional<Action> read_action(Reader& r, const YAML::Node& n, const std::string& path) {
  auto s = r.string(n, path);
  if (!s) return std::nullopt;
  if (*s == "allow") return Action::allow;
  if (*s == "deny") return Action::deny;
  r.error(n, path, "expected allow or deny, found \"" + *s + "\"");
  return std::nullopt;
}

std::optional<bool> read_mode(Reader& r, const YAML::Node& n, const std::string& path) {
  auto s = r.string(n, path);
  if (!s) return std::nullopt;
  if (*s == "enforce") return false;
  if (*s == "report") return true;
  r.error(n, path, "expected enforce or report, found \"" + *s + "\"");
  return std::nullopt;
}

std::optional<model::TimePoint> read_time(Reader& r, const YAML::Node& n, const std::string& path) {
  auto s = r.string(n, path);
  if (!s) return std::nullopt;
  auto t = clock::parse_rfc3339(*s);
  if (!t) {
    r.error(n, path, "\"" + *s + "\" is not " + clock::kRfc3339Expected);
  }
  return t;
}

void read_settings(Reader& r, const YAML::Node& doc, model::Model& out) {
  Map m(r, doc, "", "Settings",
        {"kind", "default", "mode", "deny_destinations", "deny_exceptions", "host_verification"});
  model::Settings s;
  s.pos = r.position(doc);
  if (auto v = m.find("default"))
    s.default_action = read_action(r, *v, "default").value_or(Action::deny);
  if (auto v = m.find("mode")) s.report_mode = read_mode(r, *v, "mode").value_or(false);
  if (auto v = m.find("host_verification")) {
    s.host_verification =
        read_host_verification(r, *v, "host_verification").value_or(HostVerification::strict);
  }
  if (auto v = m.find("deny_destinations")) {
    if (auto c = read_cidrs(r, *v, "deny_destinations", false)) s.deny_destinations = std::move(*c);
  }
  if (auto v = m.find("deny_exceptions")) {
    if (auto c = read_cidrs(r, *v, "deny_exceptions", false)) s.deny_exceptions = std::move(*c);
  }
  if (out.settings) {
    r.error(doc, "kind",
            "a second Settings document (the first is at " + out.settings->pos.file + ":" +
                std::to_string(out.settings->pos.line) + "); exactly one is allowed");
    return;
  }
  out.settings = std::move(s);
}

void read_role(Reader& r, const YAML::Node& doc, model::Model& out) {
  Map m(r, doc, "", "Role", {"kind", "name", "members", "description"});
  model::Role role;
  role.pos = r.position(doc);
  role.name = read_name(r, m, "name").value_or("");
  if (auto v = m.find("description")) r.string(*v, "description");
  role.members = read_entries<model::PrincipalEntry>(
      r, m, "members",
      [&](const YAML::Node& n, const std::string& p) { return read_principal(r, n, p, false); });
  out.roles.push_back(std::move(role));
}

void read_destination(Reader& r, const YAML::Node& doc, model::Model& out) {
  Map m(r, doc, "", "Destination",
        {"kind", "name", "hosts", "cidrs", "except", "ports", "description"});
  model::Destination d;
  d.pos = r.position(doc);
  d.name = read_name(r, m, "name").value_or("");
  if (auto v = m.find("description")) r.string(*v, "description");
  if (auto v = m.find("cidrs")) d.cidrs = read_cidrs(r, *v, "cidrs", true);
  if (auto v = m.find("except")) {
    if (auto c = read_cidrs(r, *v, "except", true)) d.except = std::move(*c);
  }
  if (auto v = m.find("ports")) d.ports = read_ports(r, *v, "ports");
  if (auto v = m.find("hosts")) d.hosts = read_hosts(r, *v, "hosts");
  if (m.ok() && !m.find("cidrs") && !m.find("ports") && !m.find("hosts")) {
    r.error(doc, "cidrs", "a Destination needs hosts, cidrs or ports (any of them, AND-ed)");
  }
  out.destinations.push_back(std::move(d));
}

void read_rule(Reader& r, const YAML::Node& doc, model::Model& out) {
  Map m(r, doc, "", "Rule",
        {"kind", "id", "action", "mode", "from", "to", "expires", "description"});
  model::Rule rule;
  rule.pos = r.position(doc);
  rule.id = read_name(r, m, "id").value_or("");
  if (auto v = m.require("action"))
    rule.action = read_action(r, *v, "action").value_or(Action::deny);
  if (auto v = m.find("mode")) rule.report = read_mode(r, *v, "mode").value_or(false);
  if (auto v = m.find("description")) rule.description = r.string(*v, "description").value_or("");
  if (auto v = m.find("expires")) {
    rule.expires = read_time(r, *v, "expires");
    rule.expires_pos = r.position(*v);
  }
  rule.from = read_entries<model::PrincipalEntry>(
      r, m, "from",
      [&](const YAML::Node& n, const std::string& p) { return read_principal(r, n, p, true); });
  rule.to = read_entries<model::DestinationEntry>(
      r, m, "to",
      [&](const YAML::Node& n, const std::string& p) { return read_destination_entry(r, n, p); });
  out.rules.push_back(std::move(rule));
}

std::optional<model::TestCase> read_case(Reader& r, const YAML::Node& n, const std::string& path) {
  Map m(r, n, path, "a test case",
        {"name", "src", "dst", "identity", "dns_names", "cn", "host", "resolves_to", "ech", "at",
         "expect", "rule", "shadow"});
  if (!m.ok()) return std::nullopt;
  const auto before = r.error_count();
  model::TestCase c;
  c.pos = r.position(n);
  if (auto v = m.find("name")) c.name = r.string(*v, m.path("name")).value_or("");
  if (auto v = m.require("src")) {
    if (auto s = r.string(*v, m.path("src"))) {
      if (auto a = base::IpAddress::parse(*s)) {
        c.src = *a;
      } else {
        r.error(*v, m.path("src"), "\"" + *s + "\" is not an IP address");
      }
    }
  }
  if (auto v = m.require("dst")) {
    if (auto s = r.string(*v, m.path("dst"))) {
      if (auto e = base::Endpoint::parse(*s)) {
        c.dst = *e;
      } else {
        r.error(*v, m.path("dst"),
                "\"" + *s + "\" is not IP:PORT (IPv6 in brackets: [2001:db8::1]:443)");
      }
    }
  }
  if (auto v = m.find("identity")) c.identity = r.string(*v, m.path("identity")).value_or("");
  if (auto v = m.find("dns_names")) {
    if (auto items = r.list(*v, m.path("dns_names"), false)) {
      for (std::size_t i = 0; i < items->size(); ++i) {
        if (auto s = r.string((*items)[i], index_path(m.path("dns_names"), i))) {
          c.dns_names.push_back(*s);
        }
      }
    }
  }
  if (auto v = m.find("cn")) c.cn = r.string(*v, m.path("cn")).value_or("");
  if (auto v = m.find("host")) c.host = r.string(*v, m.path("host")).value_or("");
  if (auto v = m.find("resolves_to")) {
    const std::string path = m.path("resolves_to");
    if (auto items = r.list(*v, path, true)) {
      c.resolves_to.emplace();
      for (std::size_t i = 0; i < items->size(); ++i) {
        const std::string p = v->IsSequence() ? index_path(path, i) : path;
        auto s = r.string((*items)[i], p);
        if (!s) continue;
        if (auto a = base::IpAddress::parse(*s)) {
          c.resolves_to->push_back(*a);
        } else {
          r.error((*items)[i], p, "\"" + *s + "\" is not an IP address");
        }
      }
    }
    if (c.host.empty()) r.error(*v, path, "resolves_to needs host (the name that resolves)");
  }
  if (auto v = m.find("ech")) c.ech = r.boolean(*v, m.path("ech")).value_or(false);
  if (auto v = m.find("at")) c.at = read_time(r, *v, m.path("at"));
  if (auto v = m.require("expect"))
    c.expect = read_action(r, *v, m.path("expect")).value_or(Action::deny);
  if (auto v = m.find("rule")) c.rule = r.string(*v, m.path("rule"));
  if (auto v = m.find("shadow")) c.shadow = read_action(r, *v, m.path("shadow"));
  if (r.error_count() != before) return std::nullopt;
  return c;
}

void read_policy_test(Reader& r, const YAML::Node& doc, model::Model& out) {
  Map m(r, doc, "", "PolicyTest", {"kind", "name", "description", "cases"});
  if (auto v = m.find("name")) r.string(*v, "name");
  if (auto v = m.find("description")) r.string(*v, "description");
  auto cases = read_entries<model::TestCase>(
      r, m, "cases", [&](const YAML::Node& n, const std::string& p) { return read_case(r, n, p); });
  for (auto& c : cases) out.tests.push_back(std::move(c));
}

void read_document(Reader& r, const YAML::Node& doc, SourceKind kind, model::Model& out) {
  if (doc.IsNull()) return;  // an empty document ("---" at the end of a file)
  if (!doc.IsMap()) {
    r.error(doc, "", "a document must be a mapping with a kind");
    return;
  }
  std::optional<YAML::Node> kind_node;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == "kind") kind_node = it->second;
  }
  if (!kind_node) {
    r.error(doc, "kind",
            "missing required key \"kind\" (Settings, Role, Destination, Rule or PolicyTest)");
    return;
  }
  auto k = r.string(*kind_node, "kind");
  if (!k) return;
  if (kind == SourceKind::tests_only && *k != "PolicyTest") {
    r.error(*kind_node, "kind",
            "only PolicyTest documents belong in a test directory, found " + *k);
    return;
  }
  if (*k == "Settings") {
    read_settings(r, doc, out);
  } else if (*k == "Role") {
    read_role(r, doc, out);
  } else if (*k == "Destination") {
    read_destination(r, doc, out);
  } else if (*k == "Rule") {
    read_rule(r, doc, out);
  } else if (*k == "PolicyTest") {
    read_policy_test(r, doc, out);
  } else {
    r.error(*kind_node, "kind",
            "unknown kind \"" + *k + "\" (Settings, Role, Destination, Rule or PolicyTest)");
  }
}

std::string where(const model::Position& p) {
  return p.file + ":" + std::to_string(p.line);
}

// Cross-document checks: duplicates, references, exactly one Settings.
void validate(const model::Model& m, SourceKind kind, const std::string& dir_label,
              bool some_file_unreadable, std::vector<base::Diagnostic>& errors) {
  Reader r("", errors);
  // A file that is not YAML may hold the Settings: saying they are missing would mislead.
  if (kind == SourceKind::policy && !m.settings && !some_file_unreadable) {
    base::Diagnostic d;
    d.file = dir_label;
    d.key_path = "Settings";
    d.message = "no Settings document in the policy; exactly one is required";
    errors.push_back(std::move(d));
  }
  std::map<std::string, const model::Position*> roles, destinations, rules;
  for (const auto& role : m.roles) {
    if (role.name.empty()) continue;
    auto [it, fresh] = roles.emplace(role.name, &role.pos);
    if (!fresh)
      r.error(role.pos, "name",
              "duplicate role name \"" + role.name + "\" (first defined at " + where(*it->second) +
                  ")");
  }
  for (const auto& d : m.destinations) {
    if (d.name.empty()) continue;
    auto [it, fresh] = destinations.emplace(d.name, &d.pos);
    if (!fresh)
      r.error(d.pos, "name",
              "duplicate destination name \"" + d.name + "\" (first defined at " +
                  where(*it->second) + ")");
  }
  for (const auto& rule : m.rules) {
    if (rule.id.empty()) continue;
    auto [it, fresh] = rules.emplace(rule.id, &rule.pos);
    if (!fresh)
      r.error(
          rule.pos, "id",
          "duplicate rule id \"" + rule.id + "\" (first defined at " + where(*it->second) + ")");
  }
  for (const auto& rule : m.rules) {
    for (std::size_t i = 0; i < rule.from.size(); ++i) {
      const auto& e = rule.from[i];
      if (e.role && !roles.count(*e.role)) {
        r.error(e.role_pos, index_path("from", i) + ".role", "unknown role \"" + *e.role + "\"");
      }
    }
    for (std::size_t i = 0; i < rule.to.size(); ++i) {
      const auto& e = rule.to[i];
      if (e.destination && !destinations.count(*e.destination)) {
        r.error(e.destination_pos, index_path("to", i) + ".destination",
                "unknown destination \"" + *e.destination + "\"");
      }
    }
  }
}

}  // namespace

ParseOutput parse_sources(const std::vector<SourceFile>& files, SourceKind kind,
                          const std::string& dir_label) {
  ParseOutput out;
  if (files.empty()) {
    base::Diagnostic d;
    d.file = dir_label;
    d.message = "no *.yaml files";
    out.errors.push_back(std::move(d));
    return out;
  }
  bool unreadable = false;
  for (const auto& f : files) {
    Reader r(f.name, out.errors);
    const auto docs = r.load_all(f.bytes);
    if (!docs) {
      unreadable = true;
      continue;
    }
    for (const auto& doc : *docs) {
      try {
        read_document(r, doc, kind, out.model);
      } catch (const YAML::Exception& e) {
        r.error(model::Position{f.name, e.mark.line + 1, e.mark.column + 1}, "", e.msg);
      }
    }
  }
  validate(out.model, kind, dir_label, unreadable, out.errors);
  // One reading order for people: by file, then position.
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const base::Diagnostic& a, const base::Diagnostic& b) {
                     return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
                   });
  return out;
}

}  // namespace egress::policy
