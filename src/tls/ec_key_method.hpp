#pragma once

// OpenSSL 3.0 decodes the public key of every certificate it parses (each client certificate and
// intermediate of every handshake) through a decoder context that enumerates the default
// provider's key managers and decoders: about 80 µs per certificate in isolation and up to
// 190 µs inside egressd, a third of a full mTLS handshake's CPU (docs/performance.md). OpenSSL
// takes its legacy decoder instead when an ENGINE claims the key type
// (crypto/x509/x_pubkey.c, x509_pubkey_decode). This module registers such an engine for EC
// keys whose method is OpenSSL's own built-in EC method, so the same OpenSSL code decodes and
// checks EC keys, without the lookup. Keys egressd loads itself (its certificate's private key)
// stay provider keys; RSA and other key types are untouched.

namespace egress::tls {

/// Registers the engine (once per process; later calls return the first call's result). Call
/// before building TLS contexts. False when OpenSSL has no engine support or refused; OpenSSL's
/// default path then stays in place, which is correct, only slower.
bool use_builtin_ec_key_method() noexcept;

}  // namespace egress::tls
