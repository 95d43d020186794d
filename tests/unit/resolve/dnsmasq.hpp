#pragma once

// A real DNS server for the resolver's tests: dnsmasq from Debian, on 127.0.0.1 in a network
// namespace the test process made for itself, so nothing of the host's network is touched.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace egress::resolve::test {

/// Moves this process (its calling thread, the one that runs the tests) into a new network
/// namespace with `lo` up, once. Returns why it could not (not root, no dnsmasq, unshare
/// failed) for GTEST_SKIP, or "" on success. Everything started afterwards lives and dies in it.
std::string enter_private_network();

/// One dnsmasq, answering only from its own records (no upstream, no /etc/hosts). Killed by its
/// destructor, and by the kernel if the test process dies first (PR_SET_PDEATHSIG).
class Dnsmasq {
 public:
  /// `records`: dnsmasq options such as "--host-record=a.test,192.0.2.1,300". The records in
  /// hosts_file() (--addn-hosts) are read at start and on reload().
  Dnsmasq(std::uint16_t port, std::vector<std::string> records);
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  /// Starts it and waits until it listens (throws std::runtime_error when it does not).
  void start();
  /// Stops it (SIGTERM, then reaps it).
  void stop();
  /// Replaces the hosts file and makes dnsmasq read it again (SIGHUP), waiting until it has.
  void set_hosts(std::string_view contents);
  /// Queries dnsmasq logged for `type` ("A", "AAAA") and `name`.
  int queries(std::string_view type, std::string_view name) const;

  std::uint16_t port() const noexcept { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string read_log() const;
  int count_in_log(std::string_view needle) const;

  std::uint16_t port_;
  std::vector<std::string> records_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace egress::resolve::test
