#include "tls/context.hpp"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "test_certs.hpp"

namespace egress::tls {
namespace {

using test::cert_file;
using test::gateway_options;
namespace fs = std::filesystem;

// A private copy of a dev file, so permission changes never touch the shared PKI.
fs::path copy_to(const test::TempDir& dir, const std::string& name, fs::perms perms) {
  const fs::path to = dir.path() / name;
  fs::copy_file(cert_file(name), to, fs::copy_options::overwrite_existing);
  fs::permissions(to, perms);
  return to;
}

std::string build_error(const ListenerTlsOptions& options) {
  const BuildResult r = build_server_context(options);
  EXPECT_FALSE(r.context);
  return r.error ? r.error->to_string() : std::string("<built>");
}

TEST(ServerContext, BuildsFromTheDevPki) {
  const BuildResult r = build_server_context(gateway_options(Mode::required));
  ASSERT_TRUE(r.context) << r.error->to_string();
  const ServerContext& ctx = *r.context;
  EXPECT_NE(ctx.native_handle(), nullptr);
  EXPECT_EQ(ctx.mode(), Mode::required);
  EXPECT_EQ(ctx.info().server_subject, "CN=egressd.local,O=egressd dev");
  EXPECT_EQ(ctx.info().chain_length, 2u);
  EXPECT_EQ(ctx.info().ca_count, 2u);
  EXPECT_EQ(ctx.info().crl_count, 2u);
  EXPECT_EQ(ctx.info().server_fingerprint.size(), 64u);

  SSL_CTX* native = ctx.native_handle();
  EXPECT_EQ(SSL_CTX_get_verify_mode(native), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(native), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get_mode(native) & SSL_MODE_RELEASE_BUFFERS, 0);
  EXPECT_EQ(SSL_CTX_get_num_tickets(native), 1u);
  EXPECT_EQ(SSL_CTX_get_session_cache_mode(native), SSL_SESS_CACHE_SERVER);
  EXPECT_EQ(SSL_CTX_sess_get_cache_size(native), 8192);
  EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_NO_RENEGOTIATION, 0u);
  const unsigned long flags =
      X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(SSL_CTX_get_cert_store(native)));
  EXPECT_EQ(flags & (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL),
            static_cast<unsigned long>(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL));
  EXPECT_EQ(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(native)), 2);
}

TEST(ServerContext, OptionalModeAndTls13AndNoCrl) {
  ListenerTlsOptions options = gateway_options(Mode::optional, "");
  options.min_version = MinVersion::tls1_3;
  const BuildResult r = build_server_context(options);
  ASSERT_TRUE(r.context) << r.error->to_string();
  SSL_CTX* native = r.context->native_handle();
  EXPECT_EQ(SSL_CTX_get_verify_mode(native), SSL_VERIFY_PEER);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(native), TLS1_3_VERSION);
  EXPECT_EQ(r.context->info().crl_count, 0u);
  const unsigned long flags =
      X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(SSL_CTX_get_cert_store(native)));
  EXPECT_EQ(flags & X509_V_FLAG_CRL_CHECK, 0u);
}

TEST(ServerContext, SessionCacheSizeReachesTheSslCtx) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.session_cache_size = 3;
  BuildResult r = build_server_context(options);
  ASSERT_TRUE(r.context) << r.error->to_string();
  EXPECT_EQ(SSL_CTX_sess_get_cache_size(r.context->native_handle()), 3);
  EXPECT_EQ(SSL_CTX_get_session_cache_mode(r.context->native_handle()), SSL_SESS_CACHE_SERVER);

  options.session_cache_size = kMaxSessionCacheSize;
  r = build_server_context(options);
  ASSERT_TRUE(r.context) << r.error->to_string();
  EXPECT_EQ(SSL_CTX_sess_get_cache_size(r.context->native_handle()), 1000000);
}

// OpenSSL would read a cache size of 0 as "unlimited": 0 must turn the cache off instead.
TEST(ServerContext, SessionCacheSizeZeroTurnsTheCacheAndTicketsOff) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.session_cache_size = 0;
  const BuildResult r = build_server_context(options);
  ASSERT_TRUE(r.context) << r.error->to_string();
  SSL_CTX* native = r.context->native_handle();
  EXPECT_EQ(SSL_CTX_get_session_cache_mode(native), SSL_SESS_CACHE_OFF);
  EXPECT_EQ(SSL_CTX_get_num_tickets(native), 0u);
}

TEST(ServerContext, SessionCacheSizeAboveTheBoundIsRefused) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.session_cache_size = kMaxSessionCacheSize + 1;
  EXPECT_EQ(build_error(options), "session_cache_size: must be at most 1000000, got 1000001");
}

TEST(ServerContext, ModeOffIsAnError) {
  EXPECT_EQ(build_error(gateway_options(Mode::off)),
            "mode: TLS mode is off: there is no TLS context to build");
}

TEST(ServerContext, MismatchedKeyAndCertificate) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.key = cert_file("payments.key");
  EXPECT_EQ(build_error(options), "key: " + options.key.string() +
                                      ": private key does not match the certificate in " +
                                      options.cert.string());
}

TEST(ServerContext, MissingFilesNameTheOption) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.cert = cert_file("nope.pem");
  EXPECT_EQ(build_error(options), "cert: " + options.cert.string() + ": No such file or directory");

  options = gateway_options(Mode::required);
  options.client_ca = cert_file("gateway.key");  // a file with no certificate in it
  EXPECT_EQ(build_error(options), "client_ca: " + options.client_ca.string() +
                                      ": no certificate in file (an empty CA bundle)");
}

TEST(ServerContext, EmptyCaBundle) {
  test::TempDir dir;
  const fs::path empty = dir.path() / "empty.pem";
  std::ofstream(empty).close();
  ListenerTlsOptions options = gateway_options(Mode::required, "");
  options.client_ca = empty;
  EXPECT_EQ(build_error(options),
            "client_ca: " + empty.string() + ": no certificate in file (an empty CA bundle)");
}

TEST(ServerContext, LeafInCaBundleIsRefused) {
  ListenerTlsOptions options = gateway_options(Mode::required, "");
  options.client_ca = cert_file("payments.pem");  // leaf + intermediate
  EXPECT_EQ(build_error(options),
            "client_ca: " + options.client_ca.string() +
                ": certificate 1 (\"CN=payments-api,OU=payments,O=corp.example\") is not a CA "
                "certificate");
}

TEST(ServerContext, CrlOfAnotherCaIsFatal) {
  ListenerTlsOptions options = gateway_options(Mode::required, "unrelated.crl");
  EXPECT_EQ(build_error(options), "crl: " + options.crl.string() +
                                      ": CRL issued by \"CN=unrelated CA,O=somebody else\" is not "
                                      "signed by any CA of client_ca (" +
                                      options.client_ca.string() +
                                      "); for the CRL of an intermediate CA, add that CA to "
                                      "client_ca");
}

TEST(ServerContext, EveryTrustedCaNeedsACrl) {
  test::TempDir dir;
  // Only the intermediate's CRL (the first PEM block of ca.crl).
  std::ifstream in(cert_file("ca.crl"));
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string end = "-----END X509 CRL-----\n";
  const fs::path one = dir.path() / "intermediate.crl";
  std::ofstream(one) << all.substr(0, all.find(end) + end.size());
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.crl = one;
  EXPECT_EQ(build_error(options),
            "crl: " + one.string() +
                ": no CRL for CA \"CN=egressd dev root CA,O=egressd dev\" of client_ca; crl_check: "
                "chain checks every certificate of a chain against its issuer's CRL, so every "
                "trusted CA needs one (crl_check: leaf needs only the CRLs of the CAs that issue "
                "leaves)");
}

TEST(ServerContext, CrlDirectory) {
  test::TempDir dir;
  fs::create_directory(dir.path() / "crl.d");
  fs::copy_file(cert_file("ca.crl"), dir.path() / "crl.d" / "ca.crl");
  std::ofstream(dir.path() / "crl.d" / ".hidden") << "ignored";
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.crl = dir.path() / "crl.d";
  const BuildResult r = build_server_context(options);
  ASSERT_TRUE(r.context) << r.error->to_string();
  EXPECT_EQ(r.context->info().crl_count, 2u);

  std::ofstream(dir.path() / "crl.d" / "junk.pem") << "not a crl\n";
  EXPECT_EQ(build_error(options), "crl: " + options.crl.string() + ": junk.pem: no CRL in file");
}

TEST(ServerContext, KeyReadableByOthersIsRefusedUnlessAllowed) {
  test::TempDir dir;
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.key = copy_to(dir, "gateway.key",
                        fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  EXPECT_EQ(build_error(options),
            "key: " + options.key.string() +
                ": private key is readable by group or others (mode 0644); chmod 600 it, or set "
                "allow_insecure_key_permissions");

  options.key = copy_to(dir, "gateway.key", fs::perms::owner_read | fs::perms::group_read);
  EXPECT_NE(build_error(options).find("(mode 0440)"), std::string::npos);

  options.allow_insecure_key_permissions = true;
  const BuildResult r = build_server_context(options);
  EXPECT_TRUE(r.context) << r.error->to_string();
}

TEST(ServerContext, DevKeysAreOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::stat(cert_file("gateway.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(cert_file("payments.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ServerContext, EncryptedKeyIsRefusedWithoutPrompting) {
  test::TempDir dir;
  const fs::path encrypted = dir.path() / "encrypted.key";
  const std::string cmd = "openssl pkey -in '" + cert_file("gateway.key").string() +
                          "' -aes256 -passout pass:secret -out '" + encrypted.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  fs::permissions(encrypted, fs::perms::owner_read | fs::perms::owner_write);
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.key = encrypted;
  EXPECT_EQ(build_error(options),
            "key: " + encrypted.string() +
                ": encrypted private keys are not supported (no passphrase source)");
}

TEST(ServerContext, ExpiredServerCertificate) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.cert = cert_file("expired.pem");
  options.key = cert_file("expired.key");
  EXPECT_EQ(build_error(options),
            "cert: " + options.cert.string() +
                ": certificate \"CN=payments-expired,OU=payments,O=corp.example\" expired at "
                "2020-01-02T00:00:00Z");
}

TEST(ServerContext, NewSslSharesTheContext) {
  const BuildResult r = build_server_context(gateway_options(Mode::required));
  ASSERT_TRUE(r.context);
  SslPtr ssl = r.context->new_ssl();
  ASSERT_TRUE(ssl);
  EXPECT_EQ(SSL_get_SSL_CTX(ssl.get()), r.context->native_handle());
  EXPECT_TRUE(SSL_is_server(ssl.get()));
}

}  // namespace
}  // namespace egress::tls
