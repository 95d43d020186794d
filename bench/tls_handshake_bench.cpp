// Server-side mTLS handshakes through a ServerContext, over OpenSSL memory BIOs (no sockets, no
// kernel): the CPU a TLS listener spends per connection, and what the ticket policy costs.
//
//   build/bench/tls_handshake_bench
//
// Variants (TLS 1.3, ECDSA P-256 client and server certificates from certs/make-dev-certs.sh,
// run into a temp dir):
//   FullHandshake/ServerContext   the context as built: 1 stateful ticket (server session cache)
//   FullHandshake/Stateless2      OpenSSL's default: 2 stateless tickets, each re-encoding the
//                                 client certificate into the encrypted ticket
//   FullHandshake/Stateless1      1 stateless ticket
//   Resumption/ServerContext      a resumed handshake from the session cache (no chain check)
// The time is client + server together (one thread drives both); the difference between variants
// is all on the server.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/context.hpp"
#include "tls/openssl_ptr.hpp"

namespace {

namespace fs = std::filesystem;
using namespace egress::tls;

// The dev PKI, made once into a temp dir (the script sits next to this file's directory).
struct Pki {
  fs::path dir;
  Pki() {
    std::string tmpl = (fs::temp_directory_path() / "egress-tls-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    dir = tmpl;
    const fs::path script =
        fs::path(__FILE__).parent_path().parent_path() / "certs" / "make-dev-certs.sh";
    const std::string cmd = "'" + script.string() + "' '" + dir.string() + "' 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-dev-certs.sh failed");
  }
  ~Pki() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const Pki& pki() {
  static const Pki p;
  return p;
}

std::shared_ptr<const ServerContext> server_context() {
  static const auto ctx = [] {
    ListenerTlsOptions o;
    o.mode = Mode::required;
    o.cert = pki().dir / "gateway.pem";
    o.key = pki().dir / "gateway.key";
    o.client_ca = pki().dir / "ca.pem";
    o.crl = pki().dir / "ca.crl";
    BuildResult r = build_server_context(o);
    if (!r.context) throw std::runtime_error(r.error->to_string());
    return r.context;
  }();
  return ctx;
}

SslCtxPtr client_context() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  const auto dir = pki().dir;
  SSL_CTX_use_certificate_chain_file(ctx.get(), (dir / "payments.pem").c_str());
  SSL_CTX_use_PrivateKey_file(ctx.get(), (dir / "payments.key").c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_load_verify_locations(ctx.get(), (dir / "ca.pem").c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  return ctx;
}

enum class Tickets { server_context, stateless2, stateless1 };

struct Connected {
  SSL_SESSION* session = nullptr;  ///< the client's, when asked for (caller frees)
  bool resumed = false;
};

// One connection: handshake both ends over a BIO pair, then let the client read the tickets.
Connected connect(SSL_CTX* client_ctx, const ServerContext& server, Tickets tickets,
                  SSL_SESSION* resume, bool keep_session) {
  SslPtr s = server.new_ssl();
  SslPtr c(SSL_new(client_ctx));
  if (tickets != Tickets::server_context) {
    SSL_clear_options(s.get(), SSL_OP_NO_TICKET);
    SSL_set_num_tickets(s.get(), tickets == Tickets::stateless2 ? 2 : 1);
  }
  BIO* sb = nullptr;
  BIO* cb = nullptr;
  BIO_new_bio_pair(&sb, 0, &cb, 0);
  SSL_set_bio(s.get(), sb, sb);
  SSL_set_bio(c.get(), cb, cb);
  SSL_set_accept_state(s.get());
  SSL_set_connect_state(c.get());
  if (resume != nullptr) SSL_set_session(c.get(), resume);
  bool c_done = false;
  bool s_done = false;
  for (int i = 0; i < 32 && !(c_done && s_done); ++i) {
    if (!c_done) c_done = SSL_do_handshake(c.get()) == 1;
    if (!s_done) s_done = SSL_do_handshake(s.get()) == 1;
  }
  if (!c_done || !s_done) throw std::runtime_error("handshake did not complete");
  char buf[64];
  SSL_read(c.get(), buf, sizeof buf);  // consumes NewSessionTicket; then WANT_READ
  ERR_clear_error();
  // Clean close on both ends so the server keeps the session in its cache.
  SSL_shutdown(s.get());
  SSL_shutdown(c.get());
  return {keep_session ? SSL_get1_session(c.get()) : nullptr, SSL_session_reused(s.get()) == 1};
}

void BM_FullHandshake(benchmark::State& state, Tickets tickets) {
  auto server = server_context();
  SslCtxPtr client = client_context();
  for (auto _ : state) connect(client.get(), *server, tickets, nullptr, false);
}
BENCHMARK_CAPTURE(BM_FullHandshake, ServerContext, Tickets::server_context)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FullHandshake, Stateless2, Tickets::stateless2)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FullHandshake, Stateless1, Tickets::stateless1)->Unit(benchmark::kMicrosecond);

void BM_Resumption(benchmark::State& state) {
  auto server = server_context();
  SslCtxPtr client = client_context();
  SSL_SESSION* session =
      connect(client.get(), *server, Tickets::server_context, nullptr, true).session;
  std::int64_t resumed = 0;
  for (auto _ : state) {
    Connected next = connect(client.get(), *server, Tickets::server_context, session, true);
    resumed += next.resumed ? 1 : 0;
    SSL_SESSION_free(session);
    session = next.session;
  }
  SSL_SESSION_free(session);
  // 1.0 when every handshake was a resumption, as it must be for the figure to mean anything.
  state.counters["resumed"] =
      benchmark::Counter(static_cast<double>(resumed), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_Resumption)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
