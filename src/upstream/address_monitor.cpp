#include "upstream/address_monitor.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>
#include <system_error>

namespace egress::upstream {
namespace {

// One datagram holds whole messages; 64 KiB is far above the kernel's netlink page-sized skbs.
constexpr std::size_t kBufferBytes = 64 * 1024;
// Room for a burst of changes (a failover moving many addresses) before the kernel overruns.
constexpr int kReceiveBuffer = 1024 * 1024;
// A dump that gets no answer within this is a failed dump, not a hung control thread.
constexpr long kDumpTimeoutSeconds = 2;
// NLM_F_DUMP_INTR means the list changed while the kernel walked it: dump again, a few times.
constexpr int kDumpAttempts = 5;
constexpr auto kReopenDelay = std::chrono::seconds(1);

std::system_error os_error(const char* what) {
  return std::system_error(errno, std::generic_category(), std::string("rtnetlink: ") + what);
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool from_kernel(const sockaddr_nl& from) {
  // Only the kernel (port id 0) speaks for the address list.
  return from.nl_family == AF_NETLINK && from.nl_pid == 0;
}

}  // namespace

AddressMonitor::AddressMonitor(boost::asio::io_context& io, LoopGuard& guard)
    : guard_(guard), socket_(io), retry_(io), buffer_(kBufferBytes) {
  open_subscribed();
  addresses_ = dump();
  ++dumps_;
  publish();
}

AddressMonitor::~AddressMonitor() {
  stop();
}

void AddressMonitor::open_subscribed() {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) throw os_error("socket(AF_NETLINK, NETLINK_ROUTE)");
  Fd owner{fd};
  // Best effort: a larger buffer makes overruns rarer; an overrun is handled either way.
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    throw os_error("bind to RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR");
  }
  socket_.assign(fd);
  owner.fd = -1;
}

std::set<std::pair<std::uint32_t, base::IpAddress>> AddressMonitor::dump() {
  for (int attempt = 1;; ++attempt) {
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw os_error("socket(AF_NETLINK, NETLINK_ROUTE)");
    Fd owner{fd};
    timeval timeout{kDumpTimeoutSeconds, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct {
      nlmsghdr header;
      ifaddrmsg body;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    request.header.nlmsg_type = RTM_GETADDR;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.body.ifa_family = AF_UNSPEC;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, &request, request.header.nlmsg_len, 0,
                 reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
      throw os_error("send RTM_GETADDR");
    }
    std::set<std::pair<std::uint32_t, base::IpAddress>> out;
    std::vector<std::uint8_t> buffer(kBufferBytes);
    bool interrupted = false;
    for (;;) {
      sockaddr_nl from{};
      socklen_t from_len = sizeof from;
      const ssize_t n = ::recvfrom(fd, buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw os_error("read the RTM_GETADDR dump");
      if (!from_kernel(from)) continue;
      const auto batch =
          parse_address_messages(std::span(buffer.data(), static_cast<std::size_t>(n)));
      if (batch.error != 0) {
        errno = batch.error;
        throw os_error("RTM_GETADDR");
      }
      if (batch.malformed) {
        errno = EBADMSG;
        throw os_error("a malformed RTM_GETADDR answer");
      }
      interrupted |= batch.interrupted;
      for (const auto& c : batch.changes) {
        if (c.added) out.emplace(c.ifindex, c.address);
      }
      if (batch.done) break;
    }
    if (!interrupted || attempt == kDumpAttempts) return out;
  }
}

bool AddressMonitor::resync() {
  try {
    addresses_ = dump();
  } catch (const std::system_error& e) {
    spdlog::error("loop guard: {}; keeping the local addresses as they are", e.what());
    return false;
  }
  ++dumps_;
  publish();
  return true;
}

void AddressMonitor::start() {
  stopped_ = false;
  wait();
}

void AddressMonitor::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  retry_.cancel();
  socket_.cancel(ignored);
}

void AddressMonitor::wait() {
  if (stopped_ || !socket_.is_open()) return;
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec || stopped_) return;
                       on_readable();
                     });
}

void AddressMonitor::on_readable() {
  std::vector<AddressChange> changes;
  bool overrun = false;
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(socket_.native_handle(), buffer_.data(), buffer_.size(),
                                 MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == ENOBUFS) {
      // The kernel dropped notifications: only a full dump says what the list is now. What is
      // still queued after it happened later, so applying it on top of the dump converges.
      overrun = true;
      continue;
    }
    if (n < 0) {
      spdlog::error("loop guard: rtnetlink read failed: {}; reopening in {}s", std::strerror(errno),
                    kReopenDelay.count());
      apply(changes);
      reopen_later();
      return;
    }
    if (!from_kernel(from)) continue;
    auto batch = parse_address_messages(std::span(buffer_.data(), static_cast<std::size_t>(n)));
    if (batch.malformed) spdlog::warn("loop guard: a malformed rtnetlink message was ignored");
    if (overrun) {
      // Queued before the dump below: the dump supersedes them.
      continue;
    }
    changes.insert(changes.end(), batch.changes.begin(), batch.changes.end());
  }
  if (overrun) {
    spdlog::warn("loop guard: rtnetlink overrun (ENOBUFS); reading every local address again");
    resync();
  } else {
    apply(changes);
  }
  wait();
}

void AddressMonitor::reopen_later() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  retry_.expires_after(kReopenDelay);
  retry_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    try {
      open_subscribed();
    } catch (const std::system_error& e) {
      spdlog::error("loop guard: {}; retrying in {}s", e.what(), kReopenDelay.count());
      reopen_later();
      return;
    }
    // Changes made while the socket was closed are only in a dump.
    resync();
    wait();
  });
}

void AddressMonitor::apply(const std::vector<AddressChange>& changes) {
  bool changed = false;
  for (const auto& c : changes) {
    const std::pair<std::uint32_t, base::IpAddress> key{c.ifindex, c.address};
    if (c.added ? addresses_.insert(key).second : addresses_.erase(key) != 0) {
      changed = true;
      spdlog::info("loop guard: local address {} {} (interface {})", c.address.to_string(),
                   c.added ? "added" : "removed", c.ifindex);
    }
  }
  if (changed) publish();
}

void AddressMonitor::publish() {
  std::vector<base::IpAddress> out;
  out.reserve(addresses_.size());
  for (const auto& [ifindex, address] : addresses_) out.push_back(address);
  guard_.set_local_addresses(std::move(out));
}

}  // namespace egress::upstream
