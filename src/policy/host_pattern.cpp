#include "policy/host_pattern.hpp"

#include "peek/hostname.hpp"

namespace egress::policy {

bool is_below(std::string_view host, std::string_view suffix) noexcept {
  return host.size() > suffix.size() + 1 && host.ends_with(suffix) &&
         host[host.size() - suffix.size() - 1] == '.';
}

bool HostPattern::matches(std::string_view host) const noexcept {
  return wildcard ? is_below(host, name) : host == name;
}

bool HostPattern::within(const HostPattern& other) const noexcept {
  if (!other.wildcard) return !wildcard && name == other.name;
  return name == other.name ? wildcard : is_below(name, other.name);
}

HostPatternParse parse_host_pattern(std::string_view text) {
  HostPatternParse out;
  const std::string shown(text);
  if (peek::is_ip_literal(text)) {
    out.error = "\"" + shown + "\" is an IP address; hosts takes names (write addresses in cidrs)";
    return out;
  }
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      out.error = "\"" + shown +
                  "\" is not ASCII; write an internationalised name as its A-label "
                  "(xn--..., e.g. with `idn2`), which is what clients send";
      return out;
    }
  }
  HostPattern p;
  p.written = shown;
  std::string_view name = text;
  if (name.starts_with("*.")) {
    p.wildcard = true;
    name.remove_prefix(2);
  }
  if (name.find('*') != std::string_view::npos) {
    out.error = "\"" + shown +
                "\": * is allowed only as the whole first label (\"*.example.com\": any name "
                "below example.com, never example.com itself)";
    return out;
  }
  if (const auto why = peek::hostname_error(name); !why.empty()) {
    out.error = "\"" + shown + "\" is not a host name: " + std::string(why);
    return out;
  }
  p.name = peek::normalize_hostname(name);
  out.pattern = std::move(p);
  return out;
}

std::vector<HostPattern> intersect_hosts(const std::vector<HostPattern>& a,
                                         const std::vector<HostPattern>& b) {
  // Two sets of names below x and y meet only when one suffix is below (or is) the other; an exact
  // name meets a set when it is in it. So every pairwise intersection is one of the two patterns.
  std::vector<HostPattern> out;
  auto add = [&](const HostPattern& p) {
    for (const auto& q : out) {
      if (q == p) return;
    }
    out.push_back(p);
  };
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x.within(y)) {
        add(x);
      } else if (y.within(x)) {
        add(y);
      }
    }
  }
  return out;
}

bool hosts_within(const std::vector<HostPattern>& inner, const std::vector<HostPattern>& outer) {
  for (const auto& i : inner) {
    bool covered = false;
    for (const auto& o : outer) covered = covered || i.within(o);
    if (!covered) return false;
  }
  return true;
}

}  // namespace egress::policy
