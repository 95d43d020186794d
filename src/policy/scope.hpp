#pragma once

#include <vector>

#include "policy/address_set.hpp"
#include "policy/model.hpp"
#include "policy/port_set.hpp"

namespace egress::policy {

/// What one `to:` entry covers once its named Destination is folded in: (destination's cidrs
/// AND entry's cidrs) minus both `except` lists, and destination's ports AND entry's ports.
/// Unconstrained parts are the full sets.
struct DestinationScope {
  AddressSet addresses;
  PortSet ports;
  /// The prefixes to index the entry under (a superset of `addresses`), or nullptr.
  const std::vector<Cidr>* anchor = nullptr;

  bool empty() const noexcept { return addresses.empty() || ports.empty(); }
};

/// `named` is the entry's Destination (nullptr when it names none).
DestinationScope resolve_destination(const model::DestinationEntry& entry,
                                     const model::Destination* named);

}  // namespace egress::policy
