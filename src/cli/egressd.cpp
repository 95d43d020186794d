// egressd: the policy-enforcing egress gateway. main() only: config, policy, audit, gateway.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "admin/admin_server.hpp"
#include "admin/process_metrics.hpp"
#include "audit/audit_log.hpp"
#include "check_audit_dir.hpp"
#include "config/config.hpp"
#include "core/gateway.hpp"
#include "filters/chain.hpp"
#include "log_format.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"
#include "policy_log.hpp"
#include "policy_source/directory.hpp"
#include "policy_source/forward_all.hpp"
#include "policy_source/git_revision.hpp"
#include "tls/ec_key_method.hpp"
#include "upstream/loop_guard.hpp"
#include "version.hpp"

namespace {

using namespace egress;

// --log-format json: every stderr line is a JSON object, so an error message goes through the
// logger; text keeps the bare "file:line:column: message" an editor and a terminal expect.
bool g_json_log = false;

void report_error(const std::string& message) {
  if (g_json_log) {
    spdlog::error("{}", message);
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
}

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
  for (const auto& e : r.errors) report_error(e.to_string());
  if (!r.errors.empty()) {
    spdlog::critical("policy {}: {} errors", store.dir().string(), r.errors.size());
    return false;
  }
  spdlog::debug("policy: loaded {} from {} ({} rules)", r.policy->version(), store.dir().string(),
                r.policy->rule_count());
  return true;
}

int run(const std::string& config_path, bool check_only) {
  spdlog::debug("config: reading {}", config_path);
  const auto loaded = config::load_config(config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) report_error(e.to_string());
    spdlog::critical("config {}: {} errors", config_path, loaded.errors.size());
    return 1;
  }
  const config::GatewayConfig& cfg = *loaded.config;
  // An agent without policy.dir (upstream.via) runs the built-in forward-all policy: its gateway
  // decides, and the agent still audits each connection.
  const bool forward_all = cfg.policy_dir.empty();
  policy::PolicyStore store(
      forward_all ? std::filesystem::path("(built-in: forward to upstream.via)") : cfg.policy_dir,
      forward_all ? policy_source::forward_all_loader()
                  : policy_source::directory_loader(cfg.policy_dir, cli::read_revision_logged));
  if (!load_policy(store)) return 1;

  if (check_only) {
    // Build each listener's chain factory too: it validates listener resources (TLS material).
    try {
      upstream::LoopGuard guard({});
      filters::ConnectionLimits limits(0, std::vector<std::uint64_t>(cfg.listeners.size()));
      std::vector<filters::ListenerInfo> infos;
      for (std::size_t i = 0; i < cfg.listeners.size(); ++i) infos.push_back({i, cfg.listeners[i]});
      for (const auto& l : infos) filters::ChainFactory factory(l, {store, guard, limits});
    } catch (const std::exception& e) {
      report_error(config_path + ": error: " + e.what());
      return 1;
    }
    // Start-up opens the audit log as this user; ExecStartPre runs the check as the same one.
    if (const auto error = cli::check_audit_path(cfg.audit.path)) {
      report_error(config_path + ": error: " + *error);
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
    handlers.metrics = [&] {
      return gateway.metrics_text() + admin::render_process_metrics(admin::read_process_metrics()) +
             admin::render_build_info(egress::kVersion, egress::build_commit());
    };
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
  std::string log_format = "text";
  app.add_option("-c,--config", config_path, "gateway config file (YAML)")->capture_default_str();
  app.add_flag(
      "--check-config", check_only,
      "validate the config, the policy it names, the listeners' TLS material and the audit "
      "directory (as the user running the check), then exit (0 valid, 1 invalid)");
  app.add_option("--log-level", level, "trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", log_format,
                 "operational log on stderr: text, or json (one object per line: time, level, "
                 "logger, message)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("egressd ") + egress::kVersion + " (commit " +
                                        egress::build_commit() + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto logger = spdlog::stderr_color_mt("egressd");
  egress::cli::set_log_format(*logger, log_format);
  g_json_log = log_format == "json";
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
  std::signal(SIGPIPE, SIG_IGN);
  // Before any certificate is read (tls/ec_key_method.hpp: a third of a full mTLS handshake).
  if (!egress::tls::use_builtin_ec_key_method()) {
    spdlog::warn("OpenSSL has no engine support: EC certificate keys take its slower decoder path");
  }

  return run(config_path, check_only);
}
