#include "config/dns_options.hpp"

namespace egress::config {

resolve::ResolverOptions resolver_options(const DnsConfig& dns) {
  resolve::ResolverOptions out;
  out.servers = dns.servers;
  out.timeout = dns.timeout;
  return out;
}

resolve::VerifierOptions verifier_options(const DnsConfig& dns) {
  resolve::VerifierOptions out;
  out.min_ttl = dns.min_ttl;
  return out;
}

}  // namespace egress::config
