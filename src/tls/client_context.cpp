#include "tls/client_context.hpp"

#include <new>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/material.hpp"
#include "tls/openssl_error.hpp"
#include "tls/x509_text.hpp"

namespace egress::tls {

namespace {

// The same suites and groups as the server side (context.cpp): forward secrecy, AEAD only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";

struct SessionFree {
  void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

// The SSL's slot (ClientContext::SessionSlot*) for the new-session callback.
int slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

struct ClientContext::SessionSlot {
  std::mutex mutex;
  SessionPtr session;
};

namespace {

// OpenSSL hands over each session the server issues (TLS 1.3: a ticket after the handshake;
// TLS 1.2: at its end). The latest replaces the one before: a TLS 1.3 ticket is best used once.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<ClientContext::SessionSlot*>(SSL_get_ex_data(ssl, slot_index()));
  if (slot == nullptr) return 0;  // not ours to keep: OpenSSL frees it
  std::lock_guard lock(slot->mutex);
  slot->session.reset(session);
  return 1;  // we took the reference
}

}  // namespace

ClientContext::~ClientContext() = default;

ClientContext::SessionSlot& ClientContext::slot(std::string_view key) const {
  std::lock_guard lock(slots_mutex_);
  auto it = slots_.find(key);
  if (it == slots_.end()) {
    it = slots_.emplace(std::string(key), std::make_unique<SessionSlot>()).first;
  }
  return *it->second;
}

bool ClientContext::has_session(std::string_view key) const {
  SessionSlot& s = slot(key);
  std::lock_guard lock(s.mutex);
  return s.session != nullptr;
}

SslPtr ClientContext::new_ssl(std::string_view session_key) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) {
    ERR_clear_error();
    throw std::bad_alloc();
  }
  SSL* s = ssl.get();
  const bool ip = [&] {
    ASN1_OCTET_STRING* a = a2i_IPADDRESS(server_name_.c_str());
    if (a == nullptr) return false;
    ASN1_OCTET_STRING_free(a);
    return true;
  }();
  // RFC 6066 §3: SNI carries host names only, never an IP literal.
  if (!ip) SSL_set_tlsext_host_name(s, server_name_.c_str());
  X509_VERIFY_PARAM* param = SSL_get0_param(s);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, server_name_.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, server_name_.c_str(), server_name_.size());
  }
  SessionSlot& sl = slot(session_key);
  SSL_set_ex_data(s, slot_index(), &sl);
  {
    std::lock_guard lock(sl.mutex);
    if (sl.session && SSL_SESSION_is_resumable(sl.session.get()) == 1) {
      SSL_set_session(s, sl.session.get());
    }
  }
  ERR_clear_error();
  return ssl;
}

// Friend of ClientContext: the only code that fills one.
struct ClientContextBuilder {
  const ClientTlsOptions& options;
  std::optional<ContextError> error;

  bool fail(std::string option, const std::filesystem::path& file, std::string message) {
    error = ContextError{std::move(option), file, std::move(message)};
    return false;
  }

  bool ssl_failed(int rc, const char* what) {
    if (rc == 1) return false;
    fail("", {}, std::string(what) + ": " + take_openssl_errors());
    return true;
  }

  ClientBuildResult build() {
    ClientBuildResult result;
    auto ctx = std::shared_ptr<ClientContext>(new ClientContext);
    if (run(*ctx)) {
      result.context = std::move(ctx);
    } else {
      result.error = std::move(error);
    }
    ERR_clear_error();
    return result;
  }

  bool run(ClientContext& out) {
    if (options.server_name.empty()) return fail("server_name", {}, "must not be empty");
    std::string why;
    auto chain = load_certificates(options.cert, why);
    if (!chain) return fail("cert", options.cert, why);
    X509* leaf = chain->front().get();
    auto key = load_private_key(options.key, false, why);
    if (!key) return fail("key", options.key, why);
    if (X509_check_private_key(leaf, key->get()) != 1) {
      ERR_clear_error();
      return fail("key", options.key,
                  "private key does not match the certificate in " + options.cert.string());
    }
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
      return fail("cert", options.cert,
                  "certificate \"" + name_to_rfc2253(X509_get_subject_name(leaf)) +
                      "\" expired at " + time_to_rfc3339(X509_get0_notAfter(leaf)));
    }
    auto cas = load_certificates(options.ca, why);
    if (!cas) {
      if (why == "no certificate in file") why = "no certificate in file (an empty CA bundle)";
      return fail("ca", options.ca, why);
    }
    for (std::size_t i = 0; i < cas->size(); ++i) {
      if (X509_check_ca((*cas)[i].get()) == 0) {
        return fail("ca", options.ca,
                    "certificate " + std::to_string(i + 1) + " (\"" +
                        name_to_rfc2253(X509_get_subject_name((*cas)[i].get())) +
                        "\") is not a CA certificate");
      }
    }

    out.ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!out.ctx_) return !ssl_failed(0, "SSL_CTX_new");
    SSL_CTX* ctx = out.ctx_.get();
    if (ssl_failed(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "min_version")) return false;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (ssl_failed(SSL_CTX_set_cipher_list(ctx, kTls12Ciphers), "cipher list")) return false;
    if (ssl_failed(SSL_CTX_set1_groups_list(ctx, kGroups), "groups")) return false;
    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
      return fail("cert", options.cert, "unusable certificate: " + take_openssl_errors());
    }
    for (std::size_t i = 1; i < chain->size(); ++i) {
      if (SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get()) != 1) {
        return fail("cert", options.cert, "unusable chain certificate: " + take_openssl_errors());
      }
    }
    if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      return fail("key", options.key, "unusable private key: " + take_openssl_errors());
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& ca : *cas) {
      if (X509_STORE_add_cert(store, ca.get()) != 1) {
        return fail("ca", options.ca, "unusable CA certificate: " + take_openssl_errors());
      }
    }
    if (ssl_failed(SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), "purpose")) return false;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    // Our own cache (shared by the workers, keyed by the gateway): OpenSSL only hands sessions
    // over; its internal client store is never looked up.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &on_new_session);
    out.server_name_ = options.server_name;
    return true;
  }
};

ClientBuildResult build_client_context(const ClientTlsOptions& options) {
  return ClientContextBuilder{options, std::nullopt}.build();
}

std::string client_handshake_error(const SSL& ssl, const boost::system::error_code& ec) {
  const long verify = SSL_get_verify_result(&ssl);
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  return ec.message();
}

}  // namespace egress::tls
