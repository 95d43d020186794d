#include "tls/client_context.hpp"

#include <new>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/context_setup.hpp"

namespace egress::tls {

namespace {

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
struct ClientContextBuilder : ContextBuildError {
  const ClientTlsOptions& options;

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
    // The same suites, groups and checks of the material as the server side (context.cpp).
    auto material = load_certified_key(options.cert, options.key, false, error);
    if (!material) return false;
    auto cas = load_ca_bundle(options.ca, "ca", error);
    if (!cas) return false;

    out.ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!out.ctx_) return !ssl_failed(0, "SSL_CTX_new");
    SSL_CTX* ctx = out.ctx_.get();
    if (!set_protocol(ctx, TLS1_2_VERSION, error)) return false;
    if (!use_certified_key(ctx, *material, options.cert, options.key, error)) return false;
    if (!trust_cas(ctx, *cas, "ca", options.ca, error)) return false;
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
  return ClientContextBuilder{{}, options}.build();
}

std::string client_handshake_error(const SSL& ssl, const boost::system::error_code& ec) {
  const long verify = SSL_get_verify_result(&ssl);
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  return ec.message();
}

}  // namespace egress::tls
