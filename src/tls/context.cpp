#include "tls/context.hpp"

#include <new>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "tls/context_setup.hpp"
#include "tls/material.hpp"
#include "tls/openssl_error.hpp"
#include "tls/verify.hpp"
#include "tls/x509_text.hpp"

namespace egress::tls {

namespace {

// Sessions resumed from the cache skip chain verification; bound how long a verified identity
// can be reused without one. A reload (e.g. a new CRL) builds a new cache anyway.
constexpr long kSessionTimeoutSeconds = 300;

// One stateful ticket per TLS 1.3 handshake instead of OpenSSL's two stateless ones: a
// stateless ticket on an mTLS connection re-encodes the client certificate (about 135 µs each).
constexpr std::size_t kTls13Tickets = 1;

const unsigned char kSessionIdContext[] = "egressd";

// A resumed TLS 1.3 connection gets no new ticket. The client already holds one for a session
// that is in the cache, and a renewed ticket would start a new kSessionTimeoutSeconds from the
// renewal: a client resuming at least every 300 s would then keep its identity without ever
// having its chain verified again (or checked against a newer CRL). It also saves the copy of
// the session (with the client's chain) into the cache and one more flight per connection.
void no_ticket_on_resumption(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_ACCEPT_LOOP) != 0 && SSL_session_reused(ssl) == 1) {
    SSL_set_num_tickets(const_cast<SSL*>(ssl), 0);
  }
}

std::string subject_of(const X509& cert) {
  return name_to_rfc2253(X509_get_subject_name(&cert));
}

}  // namespace

std::string ContextError::to_string() const {
  std::string out = option;
  if (!file.empty()) out += (out.empty() ? "" : ": ") + file.string();
  out += (out.empty() ? "" : ": ") + message;
  return out;
}

SslPtr ServerContext::new_ssl() const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) {
    ERR_clear_error();
    throw std::bad_alloc();
  }
  return ssl;
}

// Friend of ServerContext: the only code that fills one.
struct ContextBuilder : ContextBuildError {
  const ListenerTlsOptions& options;

  BuildResult build() {
    BuildResult result;
    auto ctx = std::shared_ptr<ServerContext>(new ServerContext);
    if (run(*ctx)) {
      result.context = std::move(ctx);
    } else {
      result.error = std::move(error);
    }
    ERR_clear_error();
    return result;
  }

  bool run(ServerContext& out) {
    if (options.mode == Mode::off) {
      return fail("mode", {}, "TLS mode is off: there is no TLS context to build");
    }
    auto material = load_certified_key(options.cert, options.key,
                                       options.allow_insecure_key_permissions, error);
    if (!material) return false;
    X509* leaf = material->leaf();
    auto cas = load_ca_bundle(options.client_ca, "client_ca", error);
    if (!cas) return false;

    std::vector<X509CrlPtr> crls;
    if (!options.crl.empty()) {
      std::string why;
      auto loaded = load_crls(options.crl, why);
      if (!loaded) return fail("crl", options.crl, why);
      crls = std::move(*loaded);
      if (!check_crls(crls, *cas)) return false;
    }

    out.ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!out.ctx_) return !ssl_failed(0, "SSL_CTX_new");
    SSL_CTX* ctx = out.ctx_.get();

    const int min_version =
        options.min_version == MinVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!set_protocol(ctx, min_version, error)) return false;
    // No stateless tickets: see kTls13Tickets.
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    if (!use_certified_key(ctx, *material, options.cert, options.key, error)) return false;

    if (!trust_cas(ctx, *cas, "client_ca", options.client_ca, error)) return false;
    for (const auto& ca : *cas) {
      if (SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
        return fail("client_ca", options.client_ca,
                    "unusable CA certificate: " + take_openssl_errors());
      }
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& crl : crls) {
      if (X509_STORE_add_crl(store, crl.get()) != 1) {
        return fail("crl", options.crl, "unusable CRL: " + take_openssl_errors());
      }
    }
    if (!crls.empty()) {
      X509_STORE_set_flags(store, options.crl_check == CrlCheck::chain
                                      ? X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL
                                      : X509_V_FLAG_CRL_CHECK);
    }
    if (ssl_failed(SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT), "purpose")) return false;

    const int verify = options.mode == Mode::required
                           ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                           : SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ctx, verify, &verify_client_certificate);

    if (options.session_cache_size > kMaxSessionCacheSize) {
      return fail("session_cache_size", {},
                  "must be at most " + std::to_string(kMaxSessionCacheSize) + ", got " +
                      std::to_string(options.session_cache_size));
    }
    // OpenSSL reads a cache size of 0 as "unlimited"; ours means no cache, so no resumption.
    const bool cache = options.session_cache_size > 0;
    SSL_CTX_set_session_cache_mode(ctx, cache ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
    if (cache) SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(options.session_cache_size));
    SSL_CTX_set_timeout(ctx, kSessionTimeoutSeconds);
    // Required for resumption whenever peers are verified (else OpenSSL refuses resumed
    // sessions with "session id context uninitialized").
    if (ssl_failed(
            SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1),
            "session id context")) {
      return false;
    }
    // Without a cache a stateful ticket names a session nobody keeps: send none.
    if (ssl_failed(SSL_CTX_set_num_tickets(ctx, cache ? kTls13Tickets : 0), "num_tickets")) {
      return false;
    }
    SSL_CTX_set_info_callback(ctx, &no_ticket_on_resumption);

    out.mode_ = options.mode;
    out.min_version_ = options.min_version;
    out.handshake_timeout_ = options.handshake_timeout;
    MaterialInfo& info = out.info_;
    info.server_subject = subject_of(*leaf);
    info.server_not_after = time_to_rfc3339(X509_get0_notAfter(leaf));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(leaf, EVP_sha256(), md, &md_len) == 1) {
      info.server_fingerprint = to_hex(md, md_len);
    }
    info.chain_length = material->chain.size();
    info.ca_count = cas->size();
    info.crl_count = crls.size();
    const ASN1_TIME* earliest = nullptr;
    for (const auto& crl : crls) {
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
      if (next != nullptr && (earliest == nullptr || ASN1_TIME_compare(next, earliest) < 0)) {
        earliest = next;
      }
    }
    info.earliest_crl_next_update = time_to_rfc3339(earliest);
    out.revocations_ = RevocationList(std::move(crls));
    // Where an operator looks when a certificate "did not reload": which files, which leaf.
    spdlog::debug(
        "tls: read cert {} (subject {}, not after {}, {} in chain), key {}, client_ca {} ({} CAs)"
        "{}{}{}",
        options.cert.string(), info.server_subject, info.server_not_after, info.chain_length,
        options.key.string(), options.client_ca.string(), info.ca_count,
        options.crl.empty() ? "" : ", crl " + options.crl.string(),
        options.crl.empty() ? "" : " (" + std::to_string(info.crl_count) + " CRLs",
        options.crl.empty() ? ""
                            : (info.earliest_crl_next_update.empty()
                                   ? ")"
                                   : ", next update " + info.earliest_crl_next_update + ")"));
    return true;
  }

  // Every CRL must come from a CA we trust (else it is a configuration mistake that would
  // silently revoke nothing; the CRL of an intermediate that clients send can be checked only
  // when that intermediate is in client_ca too) and must still be current. Which CAs need one
  // depends on crl_check: with chain (CRL_CHECK_ALL) every certificate of a chain is checked,
  // so every CA of client_ca needs a CRL; with leaf only the leaf is, so only the CAs that issue
  // leaves do, i.e. those that issue no other CA of client_ca (a root that issues only
  // intermediates needs none). A leaf whose issuer's CRL is missing still fails verification.
  bool check_crls(const std::vector<X509CrlPtr>& crls, const std::vector<X509Ptr>& cas) {
    std::vector<bool> covered(cas.size(), false);
    for (const auto& crl : crls) {
      const X509_NAME* issuer = X509_CRL_get_issuer(crl.get());
      bool signed_by_ca = false;
      for (std::size_t i = 0; i < cas.size(); ++i) {
        if (X509_NAME_cmp(issuer, X509_get_subject_name(cas[i].get())) != 0) continue;
        EVP_PKEY* pub = X509_get0_pubkey(cas[i].get());
        if (pub != nullptr && X509_CRL_verify(crl.get(), pub) == 1) {
          signed_by_ca = true;
          covered[i] = true;
        }
      }
      ERR_clear_error();
      if (!signed_by_ca) {
        return fail("crl", options.crl,
                    "CRL issued by \"" + name_to_rfc2253(issuer) +
                        "\" is not signed by any CA of client_ca (" + options.client_ca.string() +
                        "); for the CRL of an intermediate CA, add that CA to client_ca");
      }
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
      if (next != nullptr && X509_cmp_current_time(next) < 0) {
        return fail("crl", options.crl,
                    "CRL of \"" + name_to_rfc2253(issuer) + "\" is out of date (next update was " +
                        time_to_rfc3339(next) + ")");
      }
    }
    for (std::size_t i = 0; i < cas.size(); ++i) {
      if (covered[i]) continue;
      if (options.crl_check == CrlCheck::chain) {
        return fail("crl", options.crl,
                    "no CRL for CA \"" + subject_of(*cas[i]) +
                        "\" of client_ca; crl_check: chain checks every certificate of a chain "
                        "against its issuer's CRL, so every trusted CA needs one (crl_check: "
                        "leaf needs only the CRLs of the CAs that issue leaves)");
      }
      if (!issues_another_ca(i, cas)) {
        return fail("crl", options.crl,
                    "no CRL for CA \"" + subject_of(*cas[i]) +
                        "\" of client_ca, which issues no other CA of client_ca and so issues "
                        "leaves; crl_check: leaf needs the CRL of every CA that issues leaves");
      }
    }
    return true;
  }

  static bool issues_another_ca(std::size_t i, const std::vector<X509Ptr>& cas) {
    for (std::size_t j = 0; j < cas.size(); ++j) {
      if (j != i && X509_check_issued(cas[i].get(), cas[j].get()) == X509_V_OK) return true;
    }
    return false;
  }
};

BuildResult build_server_context(const ListenerTlsOptions& options) {
  return ContextBuilder{{}, options}.build();
}

}  // namespace egress::tls
