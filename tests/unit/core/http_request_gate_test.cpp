// The request gate (issue 19): on a connection decided by its first HTTP request's Host, which
// bytes reach the upstream. Driven like the relay drives it (read until "wait"), over a scripted
// stream that hands out the bytes the test puts in, and then under the real relay on loopback.
#include "core/http_request_gate.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/relay.hpp"
#include "core/tcp_stream.hpp"
#include "filters/filter.hpp"
#include "net/tcp_queue_hint.hpp"
#include "policy/loader.hpp"
#include "policy/policy.hpp"
#include "resolve/name_lookup.hpp"
#include "resolve/name_verifier.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Status = net::IoResult::Status;
using namespace std::chrono_literals;

/// The client's stream as the gate sees it: each read takes from the next chunk the test put in;
/// with none left it says "wait" (or eof once ended).
class ScriptedStream {
 public:
  void add(std::string bytes) { chunks_.push_back(std::move(bytes)); }
  void add_bytewise(std::string_view bytes) {
    for (char c : bytes) chunks_.emplace_back(1, c);
  }
  void end() { ended_ = true; }

  net::IoResult read_some(std::byte* buf, std::size_t len) noexcept {
    last_read_waited = false;
    if (chunks_.empty()) {
      if (ended_) return net::IoResult::end();
      last_read_waited = true;
      return net::IoResult::wait_read();
    }
    std::string& c = chunks_.front();
    const std::size_t n = std::min(len, c.size());
    std::memcpy(buf, c.data(), n);
    c.erase(0, n);
    if (c.empty()) chunks_.pop_front();
    return net::IoResult::transferred(n);
  }
  net::IoResult write_some(const std::byte*, std::size_t len) noexcept {
    return net::IoResult::transferred(len);
  }
  net::IoResult shutdown_send() noexcept { return net::IoResult::transferred(0); }

  /// The stream's last read said "wait": the only time the gate may say it too.
  bool last_read_waited = false;

 private:
  std::deque<std::string> chunks_;
  bool ended_ = false;
};

constexpr const char* kRules = R"(
---
kind: Rule
id: shop
action: allow
from: [{any: true}]
to: [{hosts: [a.example, b.example], ports: [80]}]
---
kind: Rule
id: other
action: allow
from: [{any: true}]
to: [{hosts: [c.example], ports: [80]}]
)";

std::string request(std::string_view host, std::string_view extra = "") {
  std::string r = "GET /x HTTP/1.1\r\nHost: ";
  r.append(host).append("\r\n").append(extra).append("\r\n");
  return r;
}

/// Answers every lookup of b.example with the destination address.
class OneAnswer : public resolve::NameLookup {
 public:
  explicit OneAnswer(asio::io_context& io) : io_(io) {}
  void lookup(const std::string& name, Callback done) override {
    resolve::Answer a{resolve::Answer::Status::nxdomain, "NXDOMAIN", {}};
    if (name == "b.example") {
      a = {resolve::Answer::Status::ok, {}, {{*base::IpAddress::parse("203.0.113.10"), 300s}}};
    }
    asio::post(io_, [done = std::move(done), a]() mutable { done(std::move(a)); });
  }

 private:
  asio::io_context& io_;
};

/// A connection to 203.0.113.10:80 allowed by rule "shop" for the Host a.example (verified), as
/// the name step and the policy step leave it.
class GateTest : public ::testing::Test {
 protected:
  void decide(const char* host_verification) {
    const std::string text = std::string("kind: Settings\ndefault: deny\nhost_verification: ") +
                             host_verification + "\n" + kRules;
    auto loaded = policy::load_policy_sources({{"p.yaml", text}});
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors.front().to_string();
    facts_.policy = loaded.policy;
    facts_.src = *base::Endpoint::parse("192.0.2.2:40000");
    facts_.dst = *base::Endpoint::parse("203.0.113.10:80");
    facts_.name = filters::NameFacts{};
    facts_.name->host = "a.example";
    facts_.name->source = filters::NameSource::http_host;
    facts_.name->verified = policy::NameVerification::match;
    policy::ConnectionFacts in;
    in.src = facts_.src.address;
    in.dst = facts_.dst->address;
    in.dst_port = 80;
    in.now = std::chrono::system_clock::now();
    in.host = "a.example";
    in.name_verification = policy::NameVerification::match;
    facts_.decision = facts_.policy->evaluate(in);
    ASSERT_EQ(facts_.decision->rule_id, "shop");
  }

  /// The worker's verifier, holding b.example → the destination.
  const resolve::NameVerifier* verifier_holding_b() {
    verifier_.emplace(lookup_, resolve::VerifierOptions{});
    auto done =
        asio::co_spawn(io_, verifier_->verify("b.example", facts_.dst->address), asio::use_future);
    io_.run();
    io_.restart();
    EXPECT_EQ(done.get().verdict, resolve::Verdict::match);
    return &*verifier_;
  }

  std::unique_ptr<HttpRequestGate<ScriptedStream&>> gate(
      const resolve::NameVerifier* verifier = nullptr, std::size_t max_head = 16384) {
    return std::make_unique<HttpRequestGate<ScriptedStream&>>(
        client_, LaterRequestCheck(facts_, verifier), max_head);
  }

  /// Reads from the gate as the relay does, until it says anything but "here are bytes"; what it
  /// handed out is appended to upstream_. Checks that "wait" is only said after the stream said
  /// it.
  Status pump(HttpRequestGate<ScriptedStream&>& g, std::size_t buffer = 16384) {
    std::vector<std::byte> buf(buffer);
    for (;;) {
      const net::IoResult r = g.read_some(buf.data(), buf.size());
      if (r.status != Status::done) {
        if (r.status == Status::want_read) {
          EXPECT_TRUE(client_.last_read_waited);
        }
        return r.status;
      }
      EXPECT_GT(r.bytes, 0u);
      upstream_.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
    }
  }

  asio::io_context io_;
  OneAnswer lookup_{io_};
  std::optional<resolve::NameVerifier> verifier_;
  filters::ListenerInfo listener_;
  filters::Facts facts_{1, listener_};
  ScriptedStream client_;
  std::string upstream_;
};

TEST_F(GateTest, TheFirstRequestAndItsBodyPass) {
  decide("strict");
  auto g = gate();
  const std::string first = request("a.example", "Content-Length: 5\r\n") + "hello";
  client_.add(first);
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, first);
  EXPECT_EQ(g->refused(), std::nullopt);
}

TEST_F(GateTest, ASecondHostThatDecidesOtherwiseSendsNothingOfItsRequest) {
  decide("strict");
  auto g = gate();
  const std::string first = request("a.example");
  client_.add(first + request("c.example") + request("a.example"));
  EXPECT_EQ(pump(*g), Status::error);
  EXPECT_EQ(upstream_, first) << "nothing of the second request, nor of anything behind it";
  ASSERT_TRUE(g->refused());
  EXPECT_EQ(*g->refused(),
            "request 2: Host \"c.example\" decides deny (default) (name_verified: not_checked), "
            "the first request's \"a.example\" allow (rule \"shop\")");
  // Asked again (the relay does not, but nothing may leak if it did): still refused.
  EXPECT_EQ(pump(*g), Status::error);
  EXPECT_EQ(upstream_, first);
}

TEST_F(GateTest, ASecondHostAllowedByAnotherRuleIsRefusedToo) {
  decide("off");  // c.example is allowed on its own, by rule "other"
  auto g = gate();
  client_.add(request("a.example") + request("c.example"));
  EXPECT_EQ(pump(*g), Status::error);
  EXPECT_EQ(upstream_, request("a.example"));
  EXPECT_EQ(*g->refused(),
            "request 2: Host \"c.example\" decides allow (rule \"other\") (name_verified: "
            "not_checked), the first request's \"a.example\" allow (rule \"shop\")");
}

TEST_F(GateTest, TheSameHostAgainPassesInAnyCaseAndWithAPort) {
  decide("strict");
  auto g = gate();
  const std::string all =
      request("a.example") + request("A.Example.") + request("a.example:80") + request("a.example");
  client_.add(all);
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, all);
  EXPECT_EQ(g->requests(), 4u);
}

TEST_F(GateTest, AnotherHostThatDecidesTheSameWayPasses) {
  decide("report");  // the name alone matches: b.example is allowed by the same rule
  auto g = gate();
  const std::string all = request("a.example") + request("b.example");
  client_.add(all);
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, all);
  EXPECT_EQ(g->refused(), std::nullopt);
}

TEST_F(GateTest, UnderStrictAnotherHostPassesOnlyWithAHeldMatchingAnswer) {
  decide("strict");
  {
    // No answer held for b.example: not verified, so rule "shop" cannot match it.
    auto g = gate(nullptr);
    client_.add(request("a.example") + request("b.example"));
    EXPECT_EQ(pump(*g), Status::error);
    EXPECT_EQ(upstream_, request("a.example"));
    EXPECT_NE(g->refused()->find("\"b.example\" decides deny (default)"), std::string::npos);
  }
  upstream_.clear();
  auto g = gate(verifier_holding_b());
  const std::string all = request("a.example") + request("b.example");
  client_.add(all);
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, all);
}

TEST_F(GateTest, ByteAtATimePipelinedWithChunkedBodiesNoHeadByteGoesEarly) {
  decide("strict");
  auto g = gate();
  // A chunked body that looks like a request with another Host: it is body, not a head.
  const std::string body_text = request("c.example");
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body_text.size());
  const std::string first = request("a.example", "Transfer-Encoding: chunked\r\n") + size + "\r\n" +
                            body_text + "\r\n0\r\n\r\n";
  const std::string second = request("a.example", "Content-Length: 3\r\n") + "abc";
  const std::string third_head = request("c.example");
  const std::string all = first + second + third_head;
  std::size_t fed = 0;
  for (char c : all) {
    client_.add(std::string(1, c));
    ++fed;
    EXPECT_EQ(pump(*g, 7), fed == first.size() + second.size() + third_head.size()
                               ? Status::error
                               : Status::want_read);
    // No byte of a head before the head is whole; a body's bytes as they come.
    if (fed < request("a.example", "Transfer-Encoding: chunked\r\n").size()) {
      EXPECT_EQ(upstream_, "");
    }
    if (fed > first.size() && fed < first.size() + second.size() - 3) {
      EXPECT_EQ(upstream_, first);
    }
  }
  EXPECT_EQ(upstream_, first + second);
  EXPECT_NE(g->refused()->find("request 3: Host \"c.example\""), std::string::npos);
}

TEST_F(GateTest, AHeadLargerThanPeekMaxBytesResets) {
  decide("strict");
  auto g = gate(nullptr, 512);
  client_.add(request("a.example"));
  client_.add(request("a.example", "X-Pad: " + std::string(600, 'p') + "\r\n"));
  EXPECT_EQ(pump(*g), Status::error);
  EXPECT_EQ(upstream_, request("a.example"));
  EXPECT_EQ(*g->refused(), "request 2: request header larger than peek.max_bytes (512 bytes)");
}

TEST_F(GateTest, AnIncompleteHeadLargerThanPeekMaxBytesResetsWithoutItsEnd) {
  decide("strict");
  auto g = gate(nullptr, 512);
  client_.add(request("a.example"));
  client_.add("GET /x HTTP/1.1\r\nX-Pad: " + std::string(600, 'p'));
  EXPECT_EQ(pump(*g), Status::error);
  EXPECT_EQ(upstream_, request("a.example"));
}

TEST_F(GateTest, AnUnreadableLaterHeadResets) {
  decide("strict");
  auto g = gate();
  client_.add(request("a.example") + "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(pump(*g), Status::error);
  EXPECT_EQ(upstream_, request("a.example"));
  EXPECT_EQ(g->refused()->rfind("request 2: not an HTTP/1.x request", 0), 0u) << *g->refused();

  auto h = gate();
  upstream_.clear();
  client_.add(request("a.example") +
              "GET / HTTP/1.1\r\nHost: a.example\r\nHost: c.example\r\n\r\n");
  EXPECT_EQ(pump(*h), Status::error);
  EXPECT_EQ(upstream_, request("a.example"));
  EXPECT_EQ(*h->refused(), "request 2: two Host header fields");
}

TEST_F(GateTest, AfterAnUpgradeEverythingPassesUnchecked) {
  decide("strict");
  auto g = gate();
  const std::string all =
      request("a.example", "Upgrade: websocket\r\nConnection: Upgrade\r\n") + request("c.example");
  client_.add(all);
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, all);
  client_.add("more bytes");
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, all + "more bytes");
}

TEST_F(GateTest, TheClientEndingInsideAHeadSendsNoneOfIt) {
  decide("strict");
  auto g = gate();
  client_.add(request("a.example"));
  client_.add("GET /y HTTP/1.1\r\nHost: c.exa");
  EXPECT_EQ(pump(*g), Status::want_read);
  EXPECT_EQ(upstream_, request("a.example"));
  client_.end();
  EXPECT_EQ(pump(*g), Status::eof);
  EXPECT_EQ(upstream_, request("a.example"));
  EXPECT_EQ(g->refused(), std::nullopt);
}

TEST_F(GateTest, PassedBytesBeforeARefusedHeadGoOutFirstEvenThroughASmallBuffer) {
  decide("strict");
  auto g = gate();
  const std::string first = request("a.example", "Content-Length: 10\r\n");
  client_.add(first);
  EXPECT_EQ(pump(*g), Status::want_read);
  // The body, then a refused head, in one read held behind an incomplete head's start.
  client_.add("0123456789GET / HTT");
  client_.add("P/1.1\r\nHost: c.example\r\n\r\n");
  EXPECT_EQ(pump(*g, 3), Status::error);
  EXPECT_EQ(upstream_, first + "0123456789");
}

TEST(ApplyRefusal, OnlyARefusedResetBecomesHostChanged) {
  RelayResult rr;
  rr.reason = base::Reason::reset;
  rr.closed_by = base::Side::client;
  rr.detail = "Permission denied";
  apply_refusal(rr, std::nullopt);
  EXPECT_EQ(rr.reason, base::Reason::reset);
  apply_refusal(rr, std::string("request 2: ..."));
  EXPECT_EQ(rr.reason, base::Reason::host_changed);
  EXPECT_EQ(rr.closed_by, base::Side::gateway);
  EXPECT_EQ(rr.detail, "request 2: ...");

  RelayResult timed_out;
  timed_out.reason = base::Reason::idle_timeout;
  timed_out.closed_by = base::Side::gateway;
  apply_refusal(timed_out, std::string("request 2: ..."));
  EXPECT_EQ(timed_out.reason, base::Reason::idle_timeout);
}

// Under the real relay: client ⇄ [gateway_down | gate + relay | gateway_up] ⇄ server, loopback.
class GatedRelayTest : public GateTest {
 protected:
  void SetUp() override {
    tcp::acceptor a(io_, {asio::ip::make_address("127.0.0.1"), 0});
    ASSERT_TRUE(net::enable_queue_hint(a.native_handle()));
    client.connect(a.local_endpoint());
    gateway_down = a.accept();
    tcp::acceptor b(io_, {asio::ip::make_address("127.0.0.1"), 0});
    gateway_up.open(tcp::v4());
    gateway_up.connect(b.local_endpoint());
    server = b.accept();
  }

  /// Starts the relay through a gate; the handler closes both gateway sockets, as egressd does.
  void start(const resolve::NameVerifier* verifier = nullptr) {
    tcp_gate = std::make_unique<HttpRequestGate<TcpStream>>(
        TcpStream(gateway_down), LaterRequestCheck(facts_, verifier), 16384);
    async_relay(*tcp_gate, gateway_up, timer, pool, RelayOptions{1h, 0ms}, [this](RelayResult r) {
      gateway_down.close();
      gateway_up.close();
      result = std::move(r);
    });
  }

  /// Runs the loop until the script is done; a gate that holds bytes it should pass (or passes
  /// what it should refuse) leaves a peer waiting: that fails here rather than hanging.
  void run(std::future<void>& script) {
    io_.run_for(10s);
    ASSERT_EQ(script.wait_for(0s), std::future_status::ready) << "the relay stalled";
    script.get();
  }

  /// Reads until the peer ends (FIN or reset).
  asio::awaitable<std::string> read_all(tcp::socket& s) {
    std::string out;
    co_await asio::async_read(s, asio::dynamic_buffer(out), asio::as_tuple(asio::use_awaitable));
    co_return out;
  }

  tcp::socket client{io_}, gateway_down{io_}, gateway_up{io_}, server{io_};
  asio::steady_timer timer{io_};
  BufferPool pool;
  std::unique_ptr<HttpRequestGate<TcpStream>> tcp_gate;
  std::optional<RelayResult> result;
};

TEST_F(GatedRelayTest, ASecondHostIsResetWithNothingOfItUpstream) {
  decide("strict");
  start();
  std::string server_got;
  auto script = asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        const std::string both = request("a.example") + request("c.example");
        co_await asio::async_write(client, asio::buffer(both), asio::use_awaitable);
        server_got = co_await read_all(server);
      },
      asio::use_future);
  run(script);
  EXPECT_EQ(server_got, request("a.example"));
  ASSERT_TRUE(result);
  apply_refusal(*result, tcp_gate->refused());
  EXPECT_EQ(result->reason, base::Reason::host_changed);
  EXPECT_EQ(result->closed_by, base::Side::gateway);
  EXPECT_NE(result->detail.find("\"c.example\""), std::string::npos);
  EXPECT_NE(result->detail.find("\"a.example\""), std::string::npos);
  EXPECT_EQ(result->bytes_up, request("a.example").size());
}

TEST_F(GatedRelayTest, AHeadSplitAcrossSegmentsAndALargeBodyArriveWhole) {
  decide("strict");
  start(verifier_holding_b());
  const std::string body(1 << 20, 'x');
  const std::string first =
      request("a.example", "Content-Length: " + std::to_string(body.size()) + "\r\n");
  const std::string second = request("b.example");
  std::string server_got, client_got;
  auto script = asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        co_await asio::async_write(client, asio::buffer(first + body), asio::use_awaitable);
        // The next head in three segments, with pauses: the relay holds the start, and wakes for
        // the rest.
        asio::steady_timer pause(io_);
        for (std::size_t at : {std::size_t{0}, std::size_t{5}, second.size() - 2}) {
          const std::size_t end = at == 0 ? 5 : at == 5 ? second.size() - 2 : second.size();
          co_await asio::async_write(client, asio::buffer(second.substr(at, end - at)),
                                     asio::use_awaitable);
          pause.expires_after(20ms);
          co_await pause.async_wait(asio::use_awaitable);
        }
        client.shutdown(tcp::socket::shutdown_send);
        server_got = co_await read_all(server);
        co_await asio::async_write(server, asio::buffer(std::string("ok")), asio::use_awaitable);
        server.shutdown(tcp::socket::shutdown_send);
        client_got = co_await read_all(client);
      },
      asio::use_future);
  run(script);
  EXPECT_EQ(server_got.size(), first.size() + body.size() + second.size());
  EXPECT_TRUE(server_got == first + body + second);
  EXPECT_EQ(client_got, "ok");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->reason, base::Reason::eof);
  EXPECT_EQ(tcp_gate->refused(), std::nullopt);
  EXPECT_EQ(tcp_gate->requests(), 2u);
}

}  // namespace
}  // namespace egress::core
