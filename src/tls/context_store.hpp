#pragma once

// The running TLS context of one listener, replaced whole on reload (SIGHUP).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "tls/context.hpp"
#include "tls/options.hpp"

namespace egress::tls {

/// Holds a listener's current ServerContext. Readers (every accepted connection, on any worker)
/// take a snapshot without a mutex; reload() builds a complete new context from the files and swaps
/// it in only when the build succeeded, else the running one stays and the error is returned.
/// Connections keep the snapshot they started with.
class ContextStore {
 public:
  /// Starts with an already built context (from build_server_context(options)).
  ContextStore(ListenerTlsOptions options, std::shared_ptr<const ServerContext> initial);

  /// Builds the first context; null and `error` set when that fails (a fatal start-up error).
  static std::unique_ptr<ContextStore> create(const ListenerTlsOptions& options,
                                              ContextError& error);

  /// The running context; never null. An atomic shared_ptr load: it never waits for a reload's
  /// build, only (at most) for the pointer swap itself.
  std::shared_ptr<const ServerContext> current() const noexcept;

  /// Re-reads the same files (cert, key, client_ca, crl) and swaps on success.
  std::optional<ContextError> reload();

  /// Builds from new options (a reloaded config) and, on success, keeps them for later reloads.
  std::optional<ContextError> reload(const ListenerTlsOptions& options);

  /// Successful swaps since construction.
  std::uint64_t generation() const noexcept { return generation_.load(); }

 private:
  std::mutex reload_mutex_;  // serialises reloads; readers never take it
  ListenerTlsOptions options_;
  std::atomic<std::shared_ptr<const ServerContext>> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace egress::tls
