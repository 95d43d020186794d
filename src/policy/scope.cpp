#include "policy/scope.hpp"

namespace egress::policy {

DestinationScope resolve_destination(const model::DestinationEntry& entry,
                                     const model::Destination* named) {
  DestinationScope s{AddressSet::all(), PortSet::all(), nullptr, std::nullopt};
  if (named) {
    if (named->cidrs) {
      s.addresses = AddressSet::from_cidrs(*named->cidrs);
      s.anchor = &*named->cidrs;
    }
    if (!named->except.empty())
      s.addresses = s.addresses.subtract(AddressSet::from_cidrs(named->except));
    if (named->ports) s.ports = *named->ports;
    s.hosts = named->hosts;
  }
  if (entry.cidrs) {
    s.addresses = s.addresses.intersect(AddressSet::from_cidrs(*entry.cidrs));
    s.anchor = &*entry.cidrs;
  }
  if (!entry.except.empty())
    s.addresses = s.addresses.subtract(AddressSet::from_cidrs(entry.except));
  if (entry.ports) s.ports = s.ports.intersect(*entry.ports);
  if (entry.hosts) s.hosts = s.hosts ? intersect_hosts(*s.hosts, *entry.hosts) : *entry.hosts;
  return s;
}

}  // namespace egress::policy
