#pragma once

#include "config/config.hpp"
#include "resolve/name_verifier.hpp"
#include "resolve/resolver.hpp"

namespace egress::config {

/// The resolver's options from `dns:`: its servers (empty: /etc/resolv.conf) and its timeout.
/// The servers were checked by the loader with the resolver's own normalise_server, so a
/// Resolver built from a loaded config does not refuse them.
resolve::ResolverOptions resolver_options(const DnsConfig& dns);

/// The name verifier's options from `dns:`: min_ttl; the rest keep their defaults.
resolve::VerifierOptions verifier_options(const DnsConfig& dns);

}  // namespace egress::config
