#include "tls/handshake.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include "tls/identity.hpp"
#include "tls/svid_rules.hpp"
#include "tls/verify.hpp"

namespace egress::tls {
namespace {

HandshakeOutcome denied(DenyReason reason, std::string detail) {
  HandshakeOutcome out;
  out.deny = reason;
  out.detail = std::move(detail);
  return out;
}

DenyReason reason_for(NameProblem problem) {
  return problem == NameProblem::malformed_name ? DenyReason::cert_verify_failed
                                                : DenyReason::invalid_svid;
}

// The handshake failed and no certificate verdict explains it: say what happened on the wire.
std::string transport_detail(const boost::system::error_code& ec) {
  namespace error = boost::asio::error;
  if (ec == boost::asio::ssl::error::stream_truncated || ec == error::eof) {
    return "connection closed during the handshake";
  }
  if (ec == error::connection_reset) return "connection reset during the handshake";
  if (ec.category() == error::get_ssl_category()) {
    const auto code = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
    if (const char* reason = ERR_reason_error_string(code)) return reason;
  }
  return ec.message();
}

}  // namespace

std::string_view to_string(DenyReason reason) noexcept {
  switch (reason) {
    case DenyReason::no_client_cert:
      return "no_client_cert";
    case DenyReason::cert_verify_failed:
      return "cert_verify_failed";
    case DenyReason::invalid_svid:
      return "invalid_svid";
    case DenyReason::tls_handshake_failed:
      return "tls_handshake_failed";
    case DenyReason::handshake_timeout:
      return "handshake_timeout";
  }
  return "tls_handshake_failed";
}

HandshakeOutcome classify_handshake(const SSL& ssl, Mode mode,
                                    const boost::system::error_code& ec) {
  if (ec) {
    if (const CertCheck* check = recorded_cert_check(ssl); check != nullptr) {
      return denied(check->kind == Rejection::svid ? DenyReason::invalid_svid
                                                   : DenyReason::cert_verify_failed,
                    check->detail);
    }
    if (const long verify = SSL_get_verify_result(&ssl); verify != X509_V_OK) {
      return denied(DenyReason::cert_verify_failed, X509_verify_cert_error_string(verify));
    }
    if (ec.category() == boost::asio::error::get_ssl_category()) {
      const auto code = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
      if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
          ERR_GET_REASON(code) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        return denied(DenyReason::no_client_cert, "peer did not return a certificate");
      }
    }
    return denied(DenyReason::tls_handshake_failed, transport_detail(ec));
  }

  HandshakeOutcome out;
  out.tls_version = SSL_get_version(&ssl);
  // A resumed session carries the verify result of the handshake that created it.
  if (const long verify = SSL_get_verify_result(&ssl); verify != X509_V_OK) {
    out.deny = DenyReason::cert_verify_failed;
    out.detail = X509_verify_cert_error_string(verify);
    return out;
  }
  const X509* leaf = SSL_get0_peer_certificate(&ssl);
  if (leaf == nullptr) {
    // OpenSSL enforces FAIL_IF_NO_PEER_CERT; this only guards a misbuilt context.
    if (mode == Mode::required) {
      out.deny = DenyReason::no_client_cert;
      out.detail = "peer did not return a certificate";
    }
    return out;
  }
  // The verify callback already ran these rules in the full handshake; a resumed session (or a
  // context built without the callback) gets them here.
  if (std::string why = leaf_usage_error(*leaf); !why.empty()) {
    out.deny = DenyReason::cert_verify_failed;
    out.detail = std::move(why);
    return out;
  }
  IdentityResult identity = extract_identity(*leaf);
  if (!identity.ok()) {
    out.deny = reason_for(identity.problem);
    out.detail = std::move(identity.detail);
  }
  out.identity = std::move(identity.identity);
  return out;
}

HandshakeOutcome handshake_timed_out(std::chrono::milliseconds timeout) {
  return denied(DenyReason::handshake_timeout,
                "no TLS handshake within " + std::to_string(timeout.count()) + " ms");
}

}  // namespace egress::tls
