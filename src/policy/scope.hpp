#pragma once

#include <optional>
#include <vector>

#include "policy/address_set.hpp"
#include "policy/host_pattern.hpp"
#include "policy/model.hpp"
#include "policy/port_set.hpp"

namespace egress::policy {

/// What one `to:` entry covers once its named Destination is folded in: (destination's cidrs
/// AND entry's cidrs) minus both `except` lists, destination's ports AND entry's ports, and the
/// names both `hosts` lists match. Unconstrained parts are the full sets.
struct DestinationScope {
  AddressSet addresses;
  PortSet ports;
  /// The prefixes to index the entry under (a superset of `addresses`), or nullptr.
  const std::vector<Cidr>* anchor = nullptr;
  /// The names the client must have sent; nullopt = any name, or none.
  std::optional<std::vector<HostPattern>> hosts;

  bool empty() const noexcept {
    return addresses.empty() || ports.empty() || (hosts && hosts->empty());
  }
};

/// `named` is the entry's Destination (nullptr when it names none).
DestinationScope resolve_destination(const model::DestinationEntry& entry,
                                     const model::Destination* named);

}  // namespace egress::policy
