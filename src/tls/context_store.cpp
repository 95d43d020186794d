#include "tls/context_store.hpp"

#include <stdexcept>
#include <utility>

namespace egress::tls {

ContextStore::ContextStore(ListenerTlsOptions options, std::shared_ptr<const ServerContext> initial)
    : options_(std::move(options)), current_(std::move(initial)) {
  if (!current_.load()) throw std::invalid_argument("ContextStore: initial context is null");
}

std::unique_ptr<ContextStore> ContextStore::create(const ListenerTlsOptions& options,
                                                   ContextError& error) {
  BuildResult built = build_server_context(options);
  if (!built.context) {
    error = std::move(*built.error);
    return nullptr;
  }
  return std::make_unique<ContextStore>(options, std::move(built.context));
}

std::shared_ptr<const ServerContext> ContextStore::current() const noexcept {
  return current_.load(std::memory_order_acquire);
}

std::optional<ContextError> ContextStore::reload() {
  std::lock_guard lock(reload_mutex_);
  BuildResult built = build_server_context(options_);
  if (!built.context) return std::move(built.error);
  current_.store(std::move(built.context), std::memory_order_release);
  generation_.fetch_add(1);
  return std::nullopt;
}

std::optional<ContextError> ContextStore::reload(const ListenerTlsOptions& options) {
  std::lock_guard lock(reload_mutex_);
  BuildResult built = build_server_context(options);
  if (!built.context) return std::move(built.error);
  options_ = options;
  current_.store(std::move(built.context), std::memory_order_release);
  generation_.fetch_add(1);
  return std::nullopt;
}

}  // namespace egress::tls
