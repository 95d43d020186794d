#include "core/runtime.hpp"

namespace egress::core {

namespace {

std::vector<ListenerInfo> listener_infos(const config::GatewayConfig& c) {
  std::vector<ListenerInfo> out;
  for (std::size_t i = 0; i < c.listeners.size(); ++i) out.push_back({i, c.listeners[i]});
  return out;
}

std::vector<std::uint64_t> per_listener_limits(const config::GatewayConfig& c) {
  std::vector<std::uint64_t> out;
  for (const auto& l : c.listeners) out.push_back(l.max_connections);
  return out;
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
      limits(config.max_connections, per_listener_limits(config)),
      metrics(listener_names(config), config.workers),
      audit(audit),
      policy(policy) {}

}  // namespace egress::core
