// The gateway config loader: YAML (with positions) → GatewayConfig. Strict: every unknown key,
// missing required key and bad value is an error naming file:line:col and the key path, and all
// of them are reported at once.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "config/config.hpp"
#include "config/duration.hpp"

namespace egress::config {

std::string_view to_string(DestinationMode m) noexcept {
  return m == DestinationMode::tproxy ? "tproxy" : "original_dst";
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": error: ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  return out;
}

namespace {

class Loader {
 public:
  Loader(std::string file, std::filesystem::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  std::vector<ConfigError> errors;

  void error(const YAML::Node& at, const std::string& path, std::string message) {
    const YAML::Mark m = at.IsDefined() ? at.Mark() : YAML::Mark::null_mark();
    add(m, path, std::move(message));
  }
  void add(const YAML::Mark& m, const std::string& path, std::string message) {
    ConfigError e;
    e.file = file_;
    if (m.line >= 0 && m.pos >= 0) {
      e.line = m.line + 1;
      e.column = m.column + 1;
    }
    e.key_path = path;
    e.message = std::move(message);
    errors.push_back(std::move(e));
  }

  using FieldFn = std::function<void(const YAML::Node& value, const std::string& path)>;

  /// Visits a mapping: each known key calls its handler, unknown keys are errors, and required
  /// keys that are absent are errors at the mapping's position.
  void visit_map(const YAML::Node& node, const std::string& path,
                 const std::vector<std::pair<std::string_view, FieldFn>>& fields,
                 std::initializer_list<std::string_view> required = {}) {
    if (!node.IsMap()) {
      error(node, path, "must be a mapping");
      return;
    }
    std::set<std::string, std::less<>> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        error(key, path, "keys must be strings");
        continue;
      }
      const std::string name = key.Scalar();
      const std::string child = path.empty() ? name : path + "." + name;
      if (!seen.insert(name).second) {
        error(key, child, "duplicate key");
        continue;
      }
      bool known = false;
      for (const auto& [field, fn] : fields) {
        if (field == name) {
          known = true;
          fn(it->second, child);
          break;
        }
      }
      if (!known) {
        std::string allowed;
        for (const auto& f : fields) {
          if (!allowed.empty()) allowed += ", ";
          allowed += f.first;
        }
        error(key, child, "unknown key (allowed: " + allowed + ")");
      }
    }
    for (std::string_view r : required) {
      if (!seen.contains(r)) {
        error(node, path.empty() ? std::string(r) : path + "." + std::string(r),
              "required key is missing");
      }
    }
  }

  std::optional<std::string> scalar(const YAML::Node& v, const std::string& path) {
    if (!v.IsScalar()) {
      error(v, path, "must be a scalar value");
      return std::nullopt;
    }
    return v.Scalar();
  }

  std::optional<std::string> string(const YAML::Node& v, const std::string& path) {
    auto s = scalar(v, path);
    if (s && s->empty()) {
      error(v, path, "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  template <class Int>
  std::optional<Int> integer(const YAML::Node& v, const std::string& path, Int min, Int max) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    Int out{};
    const char* end = s->data() + s->size();
    auto [p, ec] = std::from_chars(s->data(), end, out);
    if (ec != std::errc{} || p != end || s->empty()) {
      error(v, path, "\"" + *s + "\" is not an integer");
      return std::nullopt;
    }
    if (out < min || out > max) {
      error(
          v, path,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + *s);
      return std::nullopt;
    }
    return out;
  }

  std::optional<bool> boolean(const YAML::Node& v, const std::string& path) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    if (*s == "true") return true;
    if (*s == "false") return false;
    error(v, path, "must be true or false, got \"" + *s + "\"");
    return std::nullopt;
  }

  std::optional<std::chrono::milliseconds> duration(const YAML::Node& v, const std::string& path) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) {
      error(v, path, "\"" + *s + "\" is not a duration (e.g. 500ms, 5s, 2m, 1h)");
    }
    return d;
  }

  template <class Enum>
  std::optional<Enum> one_of(const YAML::Node& v, const std::string& path,
                             std::initializer_list<std::pair<std::string_view, Enum>> choices) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    std::string names;
    for (const auto& [name, value] : choices) {
      if (name == *s) return value;
      if (!names.empty()) names += " | ";
      names += name;
    }
    error(v, path, "\"" + *s + "\" is not one of " + names);
    return std::nullopt;
  }

  std::optional<base::Endpoint> endpoint(const YAML::Node& v, const std::string& path) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    auto e = base::Endpoint::parse(*s);
    if (!e) {
      error(v, path,
            "\"" + *s + "\" is not an address:port (e.g. \"0.0.0.0:15001\", \"[::]:15001\")");
    }
    return e;
  }

  std::optional<std::filesystem::path> path(const YAML::Node& v, const std::string& key_path) {
    auto s = string(v, key_path);
    if (!s) return std::nullopt;
    std::filesystem::path p(*s);
    if (p.is_relative()) p = base_dir_ / p;
    return p.lexically_normal();
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::filesystem::path base_dir_;
};

void load_tls(Loader& l, const YAML::Node& node, const std::string& path,
              tls::ListenerTlsOptions& out) {
  std::map<std::string, YAML::Mark, std::less<>> present;
  auto mark = [&](std::string_view key, const YAML::Node& v) {
    present.emplace(std::string(key), v.Mark());
  };
  l.visit_map(
      node, path,
      {
          {"mode",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto m = l.one_of<tls::Mode>(v, p,
                                              {{"required", tls::Mode::required},
                                               {"optional", tls::Mode::optional},
                                               {"off", tls::Mode::off}})) {
               out.mode = *m;
             }
           }},
          {"cert",
           [&](const YAML::Node& v, const std::string& p) {
             mark("cert", v);
             if (auto x = l.path(v, p)) out.cert = *x;
           }},
          {"key",
           [&](const YAML::Node& v, const std::string& p) {
             mark("key", v);
             if (auto x = l.path(v, p)) out.key = *x;
           }},
          {"client_ca",
           [&](const YAML::Node& v, const std::string& p) {
             mark("client_ca", v);
             if (auto x = l.path(v, p)) out.client_ca = *x;
           }},
          {"crl",
           [&](const YAML::Node& v, const std::string& p) {
             mark("crl", v);
             if (auto x = l.path(v, p)) out.crl = *x;
           }},
          {"crl_check",
           [&](const YAML::Node& v, const std::string& p) {
             mark("crl_check", v);
             if (auto m = l.one_of<tls::CrlCheck>(
                     v, p, {{"leaf", tls::CrlCheck::leaf}, {"chain", tls::CrlCheck::chain}})) {
               out.crl_check = *m;
             }
           }},
          {"min_version",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto m = l.one_of<tls::MinVersion>(
                     v, p, {{"1.2", tls::MinVersion::tls1_2}, {"1.3", tls::MinVersion::tls1_3}})) {
               out.min_version = *m;
             }
           }},
          {"handshake_timeout",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto d = l.duration(v, p)) {
               if (d->count() == 0) {
                 l.error(v, p, "must be greater than 0s");
               } else {
                 out.handshake_timeout = *d;
               }
             }
           }},
          {"allow_insecure_key_permissions",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto b = l.boolean(v, p)) out.allow_insecure_key_permissions = *b;
           }},
          {"session_cache_size",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = l.integer<std::size_t>(v, p, 0, tls::kMaxSessionCacheSize)) {
               out.session_cache_size = *n;
             }
           }},
      });
  if (const auto it = present.find("crl_check"); it != present.end() && !present.contains("crl")) {
    // Strict like an unknown key: a revocation setting that checks nothing is a mistake.
    l.add(it->second, path + ".crl_check", "has no effect without tls.crl");
  }
  if (node.IsMap() && out.mode != tls::Mode::off) {
    for (std::string_view key : {"cert", "key", "client_ca"}) {
      if (!present.contains(key)) {
        l.error(node, path + "." + std::string(key),
                "required when tls.mode is " +
                    std::string(out.mode == tls::Mode::required ? "required" : "optional"));
      }
    }
  }
}

void load_listener(Loader& l, const YAML::Node& node, const std::string& path,
                   ListenerConfig& out) {
  l.visit_map(
      node, path,
      {
          {"name",
           [&](const YAML::Node& v, const std::string& p) {
             auto s = l.string(v, p);
             if (!s) return;
             for (char c : *s) {
               const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                               (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
               if (!ok) {
                 l.error(v, p, "\"" + *s + "\" may contain only letters, digits, '-', '_', '.'");
                 return;
               }
             }
             out.name = *s;
           }},
          {"address",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto e = l.endpoint(v, p)) {
               if (e->port == 0) {
                 l.error(v, p, "port must not be 0");
               } else {
                 out.address = *e;
               }
             }
           }},
          {"destination",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto m =
                     l.one_of<DestinationMode>(v, p,
                                               {{"original_dst", DestinationMode::original_dst},
                                                {"tproxy", DestinationMode::tproxy}})) {
               out.destination = *m;
             }
           }},
          {"max_connections",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = l.integer<std::uint64_t>(v, p, 0, 10'000'000)) out.max_connections = *n;
           }},
          {"tls", [&](const YAML::Node& v, const std::string& p) { load_tls(l, v, p, out.tls); }},
      },
      {"name", "address"});
}

void load_audit(Loader& l, const YAML::Node& node, const std::string& path, audit::Options& out) {
  using audit::Options;
  l.visit_map(
      node, path,
      {
          {"path",
           [&](const YAML::Node& v, const std::string& p) {
             auto s = l.string(v, p);
             if (!s) return;
             if (*s == "-") {
               out.path = "-";
             } else if (auto x = l.path(v, p)) {
               out.path = x->string();
             }
           }},
          {"write_ahead",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto b = l.boolean(v, p)) out.write_ahead = *b;
           }},
          {"on_overflow",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto m = l.one_of<Options::Overflow>(
                     v, p,
                     {{"block", Options::Overflow::block}, {"drop", Options::Overflow::drop}})) {
               out.on_overflow = *m;
             }
           }},
          {"on_error",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto m =
                     l.one_of<Options::OnError>(v, p,
                                                {{"fail_closed", Options::OnError::fail_closed},
                                                 {"continue", Options::OnError::continue_}})) {
               out.on_error = *m;
             }
           }},
          {"fsync",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto m = l.one_of<Options::Fsync>(
                     v, p,
                     {{"none", Options::Fsync::none}, {"interval", Options::Fsync::interval}})) {
               out.fsync = *m;
             }
           }},
          {"fsync_interval",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto d = l.duration(v, p)) {
               if (d->count() == 0) {
                 l.error(v, p, "must be greater than 0s");
               } else {
                 out.fsync_interval = *d;
               }
             }
           }},
          {"queue_capacity",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = l.integer<std::size_t>(v, p, 1, 16'777'216)) out.queue_capacity = *n;
           }},
      });
}

void load_root(Loader& l, const YAML::Node& root, GatewayConfig& cfg) {
  std::vector<YAML::Mark> listener_marks;
  l.visit_map(
      root, "",
      {
          {"workers",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto n = l.integer<unsigned>(v, p, 1, 1024)) cfg.workers = *n;
           }},
          {"listeners",
           [&](const YAML::Node& v, const std::string& p) {
             if (!v.IsSequence() || v.size() == 0) {
               l.error(v, p, "must be a non-empty list of listeners");
               return;
             }
             for (std::size_t i = 0; i < v.size(); ++i) {
               ListenerConfig lc;
               load_listener(l, v[i], p + "[" + std::to_string(i) + "]", lc);
               listener_marks.push_back(v[i].Mark());
               cfg.listeners.push_back(std::move(lc));
             }
           }},
          {"upstream",
           [&](const YAML::Node& v, const std::string& p) {
             auto& u = cfg.upstream;
             l.visit_map(v, p,
                         {
                             {"connect_timeout",
                              [&](const YAML::Node& x, const std::string& xp) {
                                if (auto d = l.duration(x, xp)) {
                                  if (d->count() == 0) {
                                    l.error(x, xp, "must be greater than 0s");
                                  } else {
                                    u.connect_timeout = *d;
                                  }
                                }
                              }},
                             {"idle_timeout",
                              [&](const YAML::Node& x, const std::string& xp) {
                                if (auto d = l.duration(x, xp)) {
                                  if (d->count() == 0) {
                                    l.error(x, xp, "must be greater than 0s");
                                  } else {
                                    u.idle_timeout = *d;
                                  }
                                }
                              }},
                             {"max_duration",
                              [&](const YAML::Node& x, const std::string& xp) {
                                if (auto d = l.duration(x, xp)) u.max_duration = *d;
                              }},
                             {"mark",
                              [&](const YAML::Node& x, const std::string& xp) {
                                if (auto n = l.integer<std::uint32_t>(x, xp, 0, 0xffffffffu))
                                  u.mark = *n;
                              }},
                         });
           }},
          {"policy",
           [&](const YAML::Node& v, const std::string& p) {
             l.visit_map(v, p,
                         {{"dir",
                           [&](const YAML::Node& x, const std::string& xp) {
                             if (auto d = l.path(x, xp)) cfg.policy_dir = *d;
                           }}},
                         {"dir"});
           }},
          {"audit",
           [&](const YAML::Node& v, const std::string& p) { load_audit(l, v, p, cfg.audit); }},
          {"admin",
           [&](const YAML::Node& v, const std::string& p) {
             l.visit_map(v, p, {{"address", [&](const YAML::Node& x, const std::string& xp) {
                                   if (auto e = l.endpoint(x, xp)) cfg.admin_address = *e;
                                 }}});
           }},
          {"limits",
           [&](const YAML::Node& v, const std::string& p) {
             l.visit_map(
                 v, p,
                 {{"max_connections",
                   [&](const YAML::Node& x, const std::string& xp) {
                     if (auto n = l.integer<std::uint64_t>(x, xp, 0, 10'000'000)) {
                       cfg.max_connections = *n;
                     }
                   }},
                  {"max_pending",
                   [&](const YAML::Node& x, const std::string& xp) {
                     if (auto n = l.integer<std::uint64_t>(x, xp, 0, 10'000'000)) {
                       cfg.max_pending = *n;
                     }
                   }},
                  {"per_source",
                   [&](const YAML::Node& x, const std::string& xp) {
                     if (auto n = l.integer<std::uint64_t>(x, xp, 0, 10'000'000)) {
                       cfg.per_source = *n;
                     }
                   }},
                  {"per_source_ipv6_prefix", [&](const YAML::Node& x, const std::string& xp) {
                     if (auto n = l.integer<unsigned>(x, xp, 1, 128)) {
                       cfg.per_source_ipv6_prefix = *n;
                     }
                   }}});
           }},
          {"drain_timeout",
           [&](const YAML::Node& v, const std::string& p) {
             if (auto d = l.duration(v, p)) cfg.drain_timeout = *d;
           }},
      },
      {"listeners", "policy"});

  // Cross-field checks: unique names and addresses; a "[::]:P" listener becomes IPv6-only when
  // an IPv4 listener shares its port (both bind with SO_REUSEPORT; see docs/config.md).
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = cfg.listeners[i];
      const auto& b = cfg.listeners[j];
      const std::string path = "listeners[" + std::to_string(i) + "]";
      if (!a.name.empty() && a.name == b.name) {
        l.add(listener_marks[i], path + ".name",
              "duplicate listener name \"" + a.name + "\" (also listeners[" + std::to_string(j) +
                  "])");
      }
      if (a.address.port != 0 && a.address == b.address) {
        l.add(listener_marks[i], path + ".address",
              "duplicate address " + a.address.to_string() + " (also listeners[" +
                  std::to_string(j) + "])");
      }
    }
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    auto& a = cfg.listeners[i];
    if (a.address.address.is_v6() && a.address.address.is_unspecified()) {
      for (const auto& b : cfg.listeners) {
        if (b.address.address.is_v4() && b.address.port == a.address.port) a.v6_only = true;
      }
    }
    const auto& adm = cfg.admin_address;
    const bool overlaps = a.address.port == adm.port &&
                          (a.address.address == adm.address || a.address.address.is_unspecified() ||
                           adm.address.is_unspecified());
    if (a.address.port != 0 && overlaps) {
      l.add(listener_marks[i], "listeners[" + std::to_string(i) + "].address",
            "conflicts with admin.address " + adm.to_string());
    }
  }
}

}  // namespace

LoadResult parse_config(std::string_view text, const std::filesystem::path& file) {
  LoadResult result;
  std::filesystem::path base = file.parent_path();
  if (base.empty()) base = ".";
  std::error_code ec;
  auto abs = std::filesystem::absolute(base, ec);
  if (!ec) base = abs;
  Loader l(file.string(), base);

  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    l.add(e.mark, "", e.msg);
    result.errors = std::move(l.errors);
    return result;
  }
  GatewayConfig cfg;
  cfg.file = file;
  cfg.workers = std::max(1u, std::thread::hardware_concurrency());
  cfg.admin_address = *base::Endpoint::parse("127.0.0.1:9901");
  cfg.audit.path = (base / "audit.jsonl").string();
  if (!root.IsDefined() || root.IsNull()) {
    l.add(YAML::Mark::null_mark(), "", "the config is empty");
  } else {
    load_root(l, root, cfg);
  }
  if (!l.errors.empty()) {
    std::stable_sort(l.errors.begin(), l.errors.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    result.errors = std::move(l.errors);
    return result;
  }
  result.config = std::move(cfg);
  return result;
}

LoadResult load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back({file.string(), 0, 0, "",
                        std::string("cannot read the config file: ") + std::strerror(errno)});
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file);
}

}  // namespace egress::config
