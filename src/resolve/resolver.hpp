#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resolve/answer.hpp"
#include "resolve/name_lookup.hpp"

namespace egress::resolve {

/// How a Resolver reaches DNS (the `dns:` config section fills it).
struct ResolverOptions {
  /// "ip:port", "[ipv6]:port" or a bare address (port 53). Empty: the nameservers of
  /// /etc/resolv.conf (c-ares reads it).
  std::vector<std::string> servers;
  /// The whole lookup (both questions, every try and server) ends by then, as `timeout`.
  std::chrono::milliseconds timeout{2000};
  /// Tries per server; c-ares splits `timeout` over them (each try waits twice the one before).
  int tries = 2;
};

/// An asynchronous stub resolver: one c-ares channel driven by one executor's event loop (one
/// per worker thread). c-ares's sockets are watched with Asio waits and its retransmissions run
/// from an Asio timer: no thread per lookup, nothing blocks. Not thread-safe: every call, and
/// every callback, on the executor's thread.
class Resolver final : public NameLookup {
 public:
  /// Throws std::invalid_argument naming the entry ("servers[1]: ...") for a bad option, and
  /// std::runtime_error when c-ares cannot start (its message).
  Resolver(boost::asio::any_io_executor executor, ResolverOptions options);
  /// Pending lookups complete with Status::error ("resolver stopped").
  ~Resolver() override;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // NameLookup
  /// Asks A and AAAA for `name` as given (no search domains, no /etc/hosts).
  void lookup(const std::string& name, Callback done) override;

  /// lookup() as a coroutine.
  boost::asio::awaitable<Answer> resolve(std::string name);

  /// Lookups started since construction (each sends an A and an AAAA question). For tests
  /// and metrics.
  std::uint64_t lookups_started() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Checks a server entry and returns it in the form c-ares takes ("192.0.2.1:53",
/// "[2001:db8::1]:53"); nullopt when it is not an address with an optional port.
std::optional<std::string> normalise_server(std::string_view text);

}  // namespace egress::resolve
