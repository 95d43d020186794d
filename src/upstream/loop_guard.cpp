#include "upstream/loop_guard.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>

namespace egress::upstream {

LoopGuard::LoopGuard(std::vector<base::Endpoint> own) : own_(std::move(own)) {
  for (const auto& e : own_) ports_.push_back(e.port);
  std::sort(ports_.begin(), ports_.end());
  ports_.erase(std::unique(ports_.begin(), ports_.end()), ports_.end());
  local_.store(std::make_shared<const std::vector<base::IpAddress>>());
}

bool LoopGuard::is_loop(const base::Endpoint& dst) const noexcept {
  if (dst.address.is_unspecified()) return true;
  for (const auto& e : own_) {
    if (e == dst) return true;
  }
  if (!std::binary_search(ports_.begin(), ports_.end(), dst.port)) return false;
  if (dst.address.is_loopback()) return true;
  const auto local = local_.load();
  return std::find(local->begin(), local->end(), dst.address) != local->end();
}

void LoopGuard::set_local_addresses(std::vector<base::IpAddress> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  local_.store(std::make_shared<const std::vector<base::IpAddress>>(std::move(addresses)));
}

std::vector<base::IpAddress> LoopGuard::interface_addresses() {
  std::vector<base::IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (auto a = base::IpAddress::from_sockaddr(i->ifa_addr)) out.push_back(*a);
  }
  ::freeifaddrs(list);
  return out;
}

bool LoopGuard::refresh() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  ::freeifaddrs(list);
  set_local_addresses(interface_addresses());
  return true;
}

}  // namespace egress::upstream
