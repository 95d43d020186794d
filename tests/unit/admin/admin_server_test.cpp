#include "admin/admin_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <string>
#include <thread>

namespace egress::admin {
namespace {

// A blocking loopback client: the real bytes a scraper would send and see.
class Client {
 public:
  explicit Client(const base::Endpoint& ep) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    const auto len = ep.to_sockaddr(ss);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0;
    timeval tv{10, 0};  // a safety net against a hang, not a timing claim
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  /// Everything until the server closes.
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  /// Reads until `marker` has been seen (or the peer closes).
  std::string read_until(const std::string& marker) {
    std::string out;
    char buf[4096];
    while (out.find(marker) == std::string::npos) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class AdminServerTest : public ::testing::Test {
 protected:
  void start(Limits limits = {}) {
    Handlers h;
    h.metrics = [] { return std::string("# TYPE egress_up gauge\negress_up 1\n"); };
    h.not_ready_reason = [this]() -> std::optional<std::string> {
      if (ready_) return std::nullopt;
      return std::string("policy not loaded");
    };
    h.policy_json = [] { return std::string(R"({"version":"abc","rule_count":3})"); };
    server_ = std::make_unique<AdminServer>(io_, *base::Endpoint::parse("127.0.0.1:0"), h, limits);
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    work_.reset();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  std::string get(const std::string& request) {
    Client c(server_->local_endpoint());
    EXPECT_TRUE(c.connected());
    EXPECT_TRUE(c.send(request));
    return c.read_all();
  }
  std::string get_path(const std::string& path, const std::string& method = "GET") {
    return get(method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }

  /// A closed connection frees its slot once its coroutine has unwound: retry until then
  /// (a safety cap of ~5 s, not a timing claim).
  std::string get_when_a_slot_is_free(const std::string& path) {
    std::string r;
    for (int i = 0; i < 500 && r.empty(); ++i) {
      r = get_path(path);
      if (r.empty()) ::usleep(10000);
    }
    return r;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
  std::atomic<bool> ready_{true};
};

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST_F(AdminServerTest, ServesEachPathOverLoopback) {
  start();
  EXPECT_NE(server_->local_endpoint().port, 0);

  auto r = get_path("/healthz");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_NE(r.find("\r\n\r\nok\n"), std::string::npos) << r;

  r = get_path("/metrics");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos)
      << r;
  EXPECT_NE(r.find("\r\n\r\n# TYPE egress_up gauge\negress_up 1\n"), std::string::npos) << r;

  r = get_path("/readyz");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK\r\n")) << r;
  ready_ = false;
  r = get_path("/readyz");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 503 Service Unavailable\r\n")) << r;
  EXPECT_NE(r.find("not ready: policy not loaded\n"), std::string::npos) << r;

  r = get_path("/policy");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_NE(r.find("Content-Type: application/json\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find(R"({"version":"abc","rule_count":3})"), std::string::npos) << r;
}

TEST_F(AdminServerTest, HeadHasHeadersButNoBody) {
  start();
  const auto r = get_path("/metrics", "HEAD");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_NE(r.find("Content-Length: 35\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), "") << r;
}

TEST_F(AdminServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  start();
  auto r = get_path("/admin");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 404 Not Found\r\n")) << r;
  r = get_path("/metrics", "POST");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 405 Method Not Allowed\r\n")) << r;
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos) << r;
}

TEST_F(AdminServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client c(server_->local_endpoint());
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = c.read_until("ok\n");
  EXPECT_TRUE(starts_with(first, "HTTP/1.1 200 OK\r\n")) << first;
  ASSERT_TRUE(c.send("GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto second = c.read_all();
  EXPECT_TRUE(starts_with(second, "HTTP/1.1 200 OK\r\n")) << second;
}

TEST_F(AdminServerTest, MalformedRequestsGet400AndTheServerKeepsServing) {
  start();
  for (const std::string& bad :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET /metrics HTTP/9.9\r\n\r\n"),
        std::string("GET /metrics HTTP/1.1\r\nBad Header Line\r\n\r\n"),
        std::string("GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
        std::string("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    const auto r = get(bad);
    EXPECT_TRUE(r.empty() || starts_with(r, "HTTP/1.1 400 Bad Request\r\n")) << r;
  }
  EXPECT_TRUE(starts_with(get_path("/healthz"), "HTTP/1.1 200 OK\r\n"));
}

TEST_F(AdminServerTest, OversizedHeaderGets431AndTheServerKeepsServing) {
  start();
  const std::string huge =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  Client c(server_->local_endpoint());
  c.send(huge);  // the server may close before reading it all
  const auto r = c.read_all();
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 431 Request Header Fields Too Large\r\n"))
      << r.substr(0, 200);
  EXPECT_TRUE(starts_with(get_path("/healthz"), "HTTP/1.1 200 OK\r\n"));
}

TEST_F(AdminServerTest, OversizedBodyGets413) {
  start();
  const auto r = get("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                     std::string(100000, 'b'));
  EXPECT_TRUE(r.empty() || starts_with(r, "HTTP/1.1 413 Payload Too Large\r\n"))
      << r.substr(0, 200);
  EXPECT_TRUE(starts_with(get_path("/healthz"), "HTTP/1.1 200 OK\r\n"));
}

TEST_F(AdminServerTest, ConnectionsBeyondTheLimitAreClosedUntilOthersGo) {
  Limits limits;
  limits.max_connections = 2;
  start(limits);
  auto idle1 = std::make_unique<Client>(server_->local_endpoint());
  auto idle2 = std::make_unique<Client>(server_->local_endpoint());
  // Make sure both idle connections have been accepted and are being served.
  ASSERT_TRUE(idle1->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_NE(idle1->read_until("ok\n").find("200 OK"), std::string::npos);
  ASSERT_TRUE(idle2->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_NE(idle2->read_until("ok\n").find("200 OK"), std::string::npos);

  EXPECT_EQ(get_path("/healthz"), "") << "a third connection is closed at once";

  idle1.reset();
  const std::string r = get_when_a_slot_is_free("/healthz");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200 OK\r\n")) << "served again once a slot is free";
}

TEST_F(AdminServerTest, ASlowClientIsCutOffAndItsSlotFreed) {
  Limits limits;
  limits.max_connections = 1;
  limits.read_timeout = std::chrono::milliseconds(100);
  start(limits);
  Client slow(server_->local_endpoint());
  ASSERT_TRUE(slow.send("GET /metrics HTTP/1.1\r\nHost:"));  // and never the rest
  EXPECT_EQ(slow.read_all(), "") << "the server closes a request that does not complete";
  EXPECT_TRUE(starts_with(get_when_a_slot_is_free("/healthz"), "HTTP/1.1 200 OK\r\n"));
}

TEST_F(AdminServerTest, StopClosesTheListenerAndOpenConnections) {
  start();
  Client idle(server_->local_endpoint());
  ASSERT_TRUE(idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_NE(idle.read_until("ok\n").find("200 OK"), std::string::npos);
  const auto ep = server_->local_endpoint();
  server_->stop();
  EXPECT_EQ(idle.read_all(), "") << "the open connection is closed";
  Client late(ep);
  EXPECT_FALSE(late.connected() && !late.read_all().empty());
}

TEST(AdminServerBind, AnAddressInUseThrowsWithTheAddress) {
  boost::asio::io_context io;
  AdminServer first(io, *base::Endpoint::parse("127.0.0.1:0"), {});
  const auto ep = first.local_endpoint();
  try {
    AdminServer second(io, ep, {});
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(ep.to_string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace egress::admin
