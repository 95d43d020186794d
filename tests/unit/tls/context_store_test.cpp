#include "tls/context_store.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "handshake_harness.hpp"
#include "test_certs.hpp"

namespace egress::tls {
namespace {

namespace fs = std::filesystem;
using test::cert_file;
using test::plain_client;
using test::run_handshake;
using test::silent_client;
using test::tls_client;

// A listener whose crl option points at a file in a temp dir that the test swaps.
struct Fixture {
  test::TempDir dir;
  fs::path crl = dir.path() / "current.crl";
  std::unique_ptr<ContextStore> store;

  explicit Fixture(const std::string& initial_crl) {
    fs::copy_file(cert_file(initial_crl), crl);
    ListenerTlsOptions options = test::gateway_options(Mode::required);
    options.crl = crl;
    ContextError error;
    store = ContextStore::create(options, error);
    EXPECT_TRUE(store) << error.to_string();
  }
  void put_crl(const std::string& name) {
    fs::copy_file(cert_file(name), crl, fs::copy_options::overwrite_existing);
  }
};

TEST(ContextStore, CreateFailsWithTheBuildError) {
  ListenerTlsOptions options = test::gateway_options(Mode::required, "unrelated.crl");
  ContextError error;
  EXPECT_FALSE(ContextStore::create(options, error));
  EXPECT_EQ(error.option, "crl");
  EXPECT_EQ(error.file, options.crl);
}

TEST(ContextStore, CrlReloadRevokesForNewHandshakes) {
  Fixture f("ca.crl");
  auto before = f.store->current();
  const auto allowed = run_handshake(*before, tls_client("payments"));
  ASSERT_TRUE(allowed.server.allowed()) << allowed.server.detail;
  ASSERT_NE(allowed.client_session, nullptr);

  f.put_crl("ca-revokes-payments.crl");
  ASSERT_EQ(f.store->reload(), std::nullopt);
  EXPECT_EQ(f.store->generation(), 1u);
  auto after = f.store->current();
  EXPECT_NE(after, before);

  const auto denied = run_handshake(*after, tls_client("payments"));
  ASSERT_TRUE(denied.server.deny.has_value());
  EXPECT_EQ(to_string(*denied.server.deny), "cert_verify_failed");
  EXPECT_EQ(denied.server.detail, "certificate revoked");

  // A session from before the reload is not resumed on the new context: the revoked
  // certificate cannot ride an old session past the new CRL.
  const auto resumed =
      run_handshake(*after, tls_client("payments", 0, allowed.client_session.get()));
  EXPECT_FALSE(resumed.resumed);
  ASSERT_TRUE(resumed.server.deny.has_value());
  EXPECT_EQ(resumed.server.detail, "certificate revoked");

  // The snapshot a live connection holds is unchanged.
  EXPECT_TRUE(run_handshake(*before, tls_client("analytics")).server.allowed());
}

TEST(ContextStore, EmptyCrlUnrevokes) {
  Fixture f("ca.crl");
  EXPECT_EQ(run_handshake(*f.store->current(), tls_client("revoked")).server.detail,
            "certificate revoked");
  f.put_crl("empty.crl");
  ASSERT_EQ(f.store->reload(), std::nullopt);
  const auto run = run_handshake(*f.store->current(), tls_client("revoked"));
  EXPECT_TRUE(run.server.allowed()) << run.server.detail;
}

TEST(ContextStore, FailedReloadKeepsTheRunningContext) {
  Fixture f("ca.crl");
  auto running = f.store->current();
  f.put_crl("unrelated.crl");
  const auto error = f.store->reload();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->option, "crl");
  EXPECT_NE(error->message.find("is not signed by any CA of client_ca"), std::string::npos);
  EXPECT_EQ(f.store->current(), running);
  EXPECT_EQ(f.store->generation(), 0u);
  EXPECT_EQ(run_handshake(*f.store->current(), tls_client("revoked")).server.detail,
            "certificate revoked");
}

TEST(ContextStore, ReloadWithNewOptions) {
  Fixture f("ca.crl");
  ListenerTlsOptions options = test::gateway_options(Mode::optional, "");
  ASSERT_EQ(f.store->reload(options), std::nullopt);
  EXPECT_EQ(f.store->current()->mode(), Mode::optional);
  EXPECT_EQ(f.store->current()->info().crl_count, 0u);
  // Later plain reloads use the new options.
  ASSERT_EQ(f.store->reload(), std::nullopt);
  EXPECT_EQ(f.store->current()->mode(), Mode::optional);
  EXPECT_EQ(f.store->generation(), 2u);
}

}  // namespace
}  // namespace egress::tls
