#include "core/runtime.hpp"

#include "config/dns_options.hpp"

namespace egress::core {

namespace {

std::vector<filters::ListenerInfo> listener_infos(const config::GatewayConfig& c) {
  std::vector<filters::ListenerInfo> out;
  for (std::size_t i = 0; i < c.listeners.size(); ++i) out.push_back({i, c.listeners[i]});
  return out;
}

filters::ConnectionLimits::Options limit_options(const config::GatewayConfig& c) {
  filters::ConnectionLimits::Options o;
  o.max_connections = c.max_connections;
  for (const auto& l : c.listeners) o.per_listener.push_back(l.max_connections);
  o.max_pending = c.max_pending;
  o.per_source = c.per_source;
  o.per_source_ipv6_prefix = c.per_source_ipv6_prefix;
  return o;
}

std::vector<std::string> listener_names(const config::GatewayConfig& c) {
  std::vector<std::string> out;
  for (const auto& l : c.listeners) out.push_back(l.name);
  return out;
}

}  // namespace

Runtime::Runtime(const config::GatewayConfig& config, audit::AuditLog& audit,
                 const policy::PolicyStore& policy)
    : config(config),
      listeners(listener_infos(config)),
      limits(limit_options(config)),
      metrics(listener_names(config), config.workers),
      audit(audit),
      policy(policy),
      held_answers(config::verifier_options(config.dns)),
      via(config.upstream.via ? std::make_unique<ViaTunnel>(*config.upstream.via) : nullptr) {}

}  // namespace egress::core
