// egressd: the policy-enforcing egress gateway. main() only: config, policy, audit, gateway.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <memory>

#include "admin/admin_server.hpp"
#include "audit/audit_log.hpp"
#include "config/config.hpp"
#include "core/gateway.hpp"
#include "filters/chain.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"
#include "policy_source/git_revision.hpp"
#include "tls/ec_key_method.hpp"
#include "upstream/loop_guard.hpp"
#include "version.hpp"

namespace {

using namespace egress;

/// Two descriptors per connection: the default soft limit (1024) is far too low for a gateway.
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

bool load_policy(policy::PolicyStore& store) {
  const auto r = store.reload();
  for (const auto& w : r.warnings) spdlog::warn("policy: {}", w.to_string());
  for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!r.errors.empty()) {
    spdlog::critical("policy {}: {} errors", store.dir().string(), r.errors.size());
    return false;
  }
  return true;
}

int run(const std::string& config_path, bool check_only) {
  const auto loaded = config::load_config(config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    spdlog::critical("config {}: {} errors", config_path, loaded.errors.size());
    return 1;
  }
  const config::GatewayConfig& cfg = *loaded.config;
  policy::PolicyStore store(cfg.policy_dir, policy_source::read_git_revision);
  if (!load_policy(store)) return 1;

  if (check_only) {
    // Build each listener's chain factory too: it validates listener resources (TLS material).
    try {
      upstream::LoopGuard guard({});
      std::vector<core::ListenerInfo> infos;
      for (std::size_t i = 0; i < cfg.listeners.size(); ++i) infos.push_back({i, cfg.listeners[i]});
      for (const auto& l : infos) filters::ChainFactory factory(l, {store, guard});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: error: %s\n", config_path.c_str(), e.what());
      return 1;
    }
    const auto p = store.current();
    std::printf("%s: OK (%zu listeners, policy %s with %zu rules)\n", config_path.c_str(),
                cfg.listeners.size(), p->version().c_str(), p->rule_count());
    return 0;
  }

  raise_fd_limit();
  std::unique_ptr<audit::AuditLog> audit_log;
  try {
    audit_log = audit::open_audit_log(cfg.audit);
  } catch (const std::exception& e) {
    spdlog::critical("audit.path {}: {}", cfg.audit.path, e.what());
    return 1;
  }
  int rc = 1;
  try {
    core::Gateway gateway(cfg, store, *audit_log);
    admin::Handlers handlers;
    handlers.metrics = [&] { return gateway.metrics_text(); };
    handlers.not_ready_reason = [&] { return gateway.not_ready_reason(); };
    handlers.policy_json = [&] { return gateway.policy_json(); };
    admin::AdminServer admin(gateway.control(), cfg.admin_address, std::move(handlers));
    spdlog::info("admin on {}", admin.local_endpoint().to_string());
    rc = gateway.run();
    admin.stop();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    rc = 1;
  }
  audit_log->close();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"egressd: policy-enforcing egress gateway"};
  std::string config_path = "config/egressd.yaml";
  bool check_only = false;
  std::string level = "info";
  app.add_option("-c,--config", config_path, "gateway config file (YAML)")->capture_default_str();
  app.add_flag("--check-config", check_only,
               "validate the config and the policy it names, then exit (0 valid, 1 invalid)");
  app.add_option("--log-level", level, "trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("egressd ") + egress::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto logger = spdlog::stderr_color_mt("egressd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
  std::signal(SIGPIPE, SIG_IGN);
  // Before any certificate is read (tls/ec_key_method.hpp: a third of a full mTLS handshake).
  if (!egress::tls::use_builtin_ec_key_method()) {
    spdlog::warn("OpenSSL has no engine support: EC certificate keys take its slower decoder path");
  }

  return run(config_path, check_only);
}
