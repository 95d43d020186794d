#include "resolve/resolver.hpp"

#include <ares.h>
#include <arpa/nameser.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "base/ip_address.hpp"

namespace egress::resolve {

namespace asio = boost::asio;

namespace {

// ares_library_init is not thread-safe (c-ares 1.18); workers build their resolvers in
// parallel.
void init_library_once() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
  }
}

Answer::Status status_of(int ares_status) noexcept {
  switch (ares_status) {
    case ARES_SUCCESS:
      return Answer::Status::ok;
    case ARES_ENODATA:
      return Answer::Status::no_data;
    case ARES_ENOTFOUND:
      return Answer::Status::nxdomain;
    case ARES_ESERVFAIL:
      return Answer::Status::servfail;
    case ARES_EREFUSED:
      return Answer::Status::refused;
    case ARES_ECONNREFUSED:
      return Answer::Status::unreachable;
    case ARES_ETIMEOUT:
      return Answer::Status::timeout;
    default:
      return Answer::Status::error;
  }
}

// The outcome of one question (A or AAAA).
struct Half {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<Record> records;
};

// c-ares's answer sizes: more than this many addresses for one name is a server's choice to
// truncate; the first ones are kept.
constexpr int max_records = 64;

void parse_a(const unsigned char* abuf, int alen, Half& half) {
  std::array<ares_addrttl, max_records> ttls{};
  int count = max_records;
  hostent* host = nullptr;
  half.status = ares_parse_a_reply(abuf, alen, &host, ttls.data(), &count);
  if (host != nullptr) ares_free_hostent(host);
  if (half.status != ARES_SUCCESS) return;
  for (int i = 0; i < count; ++i) {
    std::uint32_t net = ttls[i].ipaddr.s_addr;
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &net, 4);
    half.records.push_back(
        {base::IpAddress::v4(bytes), std::chrono::seconds(std::max(ttls[i].ttl, 0))});
  }
}

void parse_aaaa(const unsigned char* abuf, int alen, Half& half) {
  std::array<ares_addr6ttl, max_records> ttls{};
  int count = max_records;
  hostent* host = nullptr;
  half.status = ares_parse_aaaa_reply(abuf, alen, &host, ttls.data(), &count);
  if (host != nullptr) ares_free_hostent(host);
  if (half.status != ARES_SUCCESS) return;
  for (int i = 0; i < count; ++i) {
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &ttls[i].ip6addr, 16);
    half.records.push_back(
        {base::IpAddress::v6(bytes), std::chrono::seconds(std::max(ttls[i].ttl, 0))});
  }
}

std::string describe(Answer::Status status, int ares_status, std::chrono::milliseconds timeout) {
  switch (status) {
    case Answer::Status::ok:
      return {};
    case Answer::Status::no_data:
      return "no A or AAAA record";
    case Answer::Status::nxdomain:
      return "NXDOMAIN";
    case Answer::Status::servfail:
      return "SERVFAIL";
    case Answer::Status::refused:
      return "REFUSED";
    case Answer::Status::unreachable:
      return "DNS server unreachable";
    case Answer::Status::timeout:
      return "timeout after " + std::to_string(timeout.count()) + " ms";
    case Answer::Status::error:
      if (ares_status == ARES_EDESTRUCTION) return "resolver stopped";
      return std::string("resolver error: ") + ares_strerror(ares_status);
  }
  return {};
}

// Which of two failures of the halves describes the lookup: the name's own answer (NXDOMAIN)
// first, then the one that says most about the path to the server.
int rank(Answer::Status s) noexcept {
  switch (s) {
    case Answer::Status::nxdomain:
      return 7;
    case Answer::Status::timeout:
      return 6;
    case Answer::Status::servfail:
      return 5;
    case Answer::Status::unreachable:
      return 4;
    case Answer::Status::refused:
      return 3;
    case Answer::Status::error:
      return 2;
    case Answer::Status::no_data:
      return 1;
    case Answer::Status::ok:
      return 0;
  }
  return 0;
}

}  // namespace

std::optional<std::string> normalise_server(std::string_view text) {
  if (auto ep = base::Endpoint::parse(text); ep && ep->port != 0) return ep->to_string();
  if (auto ip = base::IpAddress::parse(text)) return base::Endpoint{*ip, 53}.to_string();
  return std::nullopt;
}

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
  // One socket c-ares asked to watch. Held by the waits on it, so a wait that completes after
  // c-ares closed the socket (or after the resolver went away) finds `closed` and stops.
  struct Watch {
    explicit Watch(const asio::any_io_executor& ex, int fd) : descriptor(ex, fd) {}
    asio::posix::stream_descriptor descriptor;
    bool want_read = false;
    bool want_write = false;
    bool reading = false;
    bool writing = false;
    bool closed = false;
  };

  // One lookup: its two questions, its deadline and its caller.
  struct Pending {
    explicit Pending(const asio::any_io_executor& ex) : deadline(ex) {}
    asio::steady_timer deadline;
    Callback done;
    Half a;
    Half aaaa;
    bool finished = false;
  };

  // The argument c-ares carries for one question.
  struct Question {
    std::shared_ptr<Impl> impl;
    std::shared_ptr<Pending> pending;
    bool is_a;
  };

  Impl(asio::any_io_executor ex, std::chrono::milliseconds t)
      : executor(std::move(ex)), timer(executor), timeout(t) {}

  asio::any_io_executor executor;
  asio::steady_timer timer;
  bool timer_armed = false;
  std::chrono::steady_clock::time_point timer_expiry{};
  std::chrono::milliseconds timeout;
  ares_channel channel = nullptr;
  std::unordered_map<int, std::shared_ptr<Watch>> watches;
  std::uint64_t lookups = 0;

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->sock_state(fd, readable != 0, writable != 0);
  }

  void sock_state(int fd, bool readable, bool writable) {
    auto it = watches.find(fd);
    if (!readable && !writable) {
      // c-ares closes the socket right after this call: give it back without closing it (and
      // take it out of the reactor while it is still open).
      if (it == watches.end()) return;
      auto& w = *it->second;
      w.closed = true;
      boost::system::error_code ignored;
      w.descriptor.cancel(ignored);
      (void)w.descriptor.release();
      watches.erase(it);
      return;
    }
    if (it == watches.end()) {
      try {
        it = watches.emplace(fd, std::make_shared<Watch>(executor, fd)).first;
      } catch (const std::exception&) {
        // The reactor could not take the socket (out of memory): the lookup on it ends at its
        // deadline. Nothing may be thrown through c-ares.
        return;
      }
    }
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second);
  }

  void arm(const std::shared_ptr<Watch>& w) {
    if (w->closed) return;
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                               [self = shared_from_this(), w](boost::system::error_code ec) {
                                 w->reading = false;
                                 if (w->closed || ec || self->channel == nullptr) return;
                                 ares_process_fd(self->channel, w->descriptor.native_handle(),
                                                 ARES_SOCKET_BAD);
                                 self->arm(w);
                                 self->schedule();
                               });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->descriptor.async_wait(asio::posix::descriptor_base::wait_write,
                               [self = shared_from_this(), w](boost::system::error_code ec) {
                                 w->writing = false;
                                 if (w->closed || ec || self->channel == nullptr) return;
                                 ares_process_fd(self->channel, ARES_SOCKET_BAD,
                                                 w->descriptor.native_handle());
                                 self->arm(w);
                                 self->schedule();
                               });
    }
  }

  // Keeps the timer on c-ares's next retransmission or timeout. It is re-armed only for an
  // earlier time (a later one is found when it fires) and cancelled when nothing is pending,
  // so an idle resolver holds no work on the event loop.
  void schedule() {
    if (channel == nullptr) return;
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) {
      if (timer_armed) {
        timer_armed = false;
        timer.cancel();
      }
      return;
    }
    auto expiry = std::chrono::steady_clock::now() + std::chrono::seconds(tv.tv_sec) +
                  std::chrono::microseconds(tv.tv_usec);
    if (timer_armed && timer_expiry <= expiry) return;
    timer_armed = true;
    timer_expiry = expiry;
    timer.expires_at(expiry);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->channel == nullptr) return;
      self->timer_armed = false;
      ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      self->schedule();
    });
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<Question> q(static_cast<Question*>(arg));
    Pending& p = *q->pending;
    Half& half = q->is_a ? p.a : p.aaaa;
    half.done = true;
    half.status = status;
    if (status == ARES_SUCCESS) {
      if (q->is_a) {
        parse_a(abuf, alen, half);
      } else {
        parse_aaaa(abuf, alen, half);
      }
    }
    if (p.a.done && p.aaaa.done) q->impl->finish(q->pending);
  }

  void finish(const std::shared_ptr<Pending>& p) {
    if (p->finished) return;
    p->finished = true;
    p->deadline.cancel();
    Answer answer;
    for (Half* half : {&p->a, &p->aaaa}) {
      answer.records.insert(answer.records.end(), half->records.begin(), half->records.end());
    }
    if (!answer.records.empty()) {
      answer.status = Answer::Status::ok;
    } else {
      // A half that has not answered by the deadline timed out.
      int worst = ARES_SUCCESS;
      Answer::Status worst_status = Answer::Status::ok;
      for (Half* half : {&p->a, &p->aaaa}) {
        int s = half->done ? half->status : ARES_ETIMEOUT;
        // A success without an address (a CNAME chain that ends nowhere) is no data.
        if (s == ARES_SUCCESS) s = ARES_ENODATA;
        if (rank(status_of(s)) > rank(worst_status)) {
          worst = s;
          worst_status = status_of(s);
        }
      }
      answer.status = worst_status;
      answer.detail = describe(worst_status, worst, timeout);
    }
    asio::post(executor, [done = std::move(p->done), answer = std::move(answer)]() mutable {
      done(std::move(answer));
    });
  }

  void shutdown() {
    if (channel == nullptr) return;
    timer.cancel();
    // Completes every pending question with ARES_EDESTRUCTION and closes every socket.
    ares_channel c = channel;
    ares_destroy(c);
    channel = nullptr;
  }
};

Resolver::Resolver(asio::any_io_executor executor, ResolverOptions options) {
  if (options.timeout.count() <= 0) throw std::invalid_argument("timeout: must be positive");
  if (options.tries < 1) throw std::invalid_argument("tries: must be at least 1");
  std::string csv;
  for (std::size_t i = 0; i < options.servers.size(); ++i) {
    auto server = normalise_server(options.servers[i]);
    if (!server) {
      throw std::invalid_argument("servers[" + std::to_string(i) + "]: \"" + options.servers[i] +
                                  "\" is not an address or address:port");
    }
    if (!csv.empty()) csv += ',';
    csv += *server;
  }
  init_library_once();
  impl_ = std::make_shared<Impl>(std::move(executor), options.timeout);

  // c-ares waits `per_try` for the first try and doubles it for each later one, so `tries`
  // tries over one server fit in the timeout; with several servers the deadline below cuts the
  // last ones short.
  int tries = std::min(options.tries, 16);
  auto per_try = options.timeout.count() / ((1LL << tries) - 1);
  ares_options opts{};
  opts.timeout = static_cast<int>(std::max<long long>(per_try, 1));
  opts.tries = tries;
  opts.sock_state_cb = &Impl::on_sock_state;
  opts.sock_state_cb_data = impl_.get();
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  int status = ares_init_options(&impl_->channel, &opts, mask);
  if (status != ARES_SUCCESS) {
    impl_->channel = nullptr;
    throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
  }
  if (!csv.empty()) {
    status = ares_set_servers_ports_csv(impl_->channel, csv.c_str());
    if (status != ARES_SUCCESS) {
      impl_->shutdown();
      throw std::invalid_argument("servers: " + std::string(ares_strerror(status)));
    }
  }
}

Resolver::~Resolver() {
  if (impl_) impl_->shutdown();
}

void Resolver::lookup(const std::string& name, Callback done) {
  auto p = std::make_shared<Impl::Pending>(impl_->executor);
  p->done = std::move(done);
  ++impl_->lookups;
  if (impl_->channel == nullptr) {
    p->a = {true, ARES_EDESTRUCTION, {}};
    p->aaaa = {true, ARES_EDESTRUCTION, {}};
    impl_->finish(p);
    return;
  }
  // The deadline of the whole lookup: c-ares's own tries end near it with one server; with
  // more, or a socket that never becomes ready, this ends it.
  p->deadline.expires_after(impl_->timeout);
  p->deadline.async_wait([impl = impl_, p](boost::system::error_code ec) {
    if (!ec) impl->finish(p);
  });
  ares_query(impl_->channel, name.c_str(), ns_c_in, ns_t_a, &Impl::on_answer,
             new Impl::Question{impl_, p, true});
  ares_query(impl_->channel, name.c_str(), ns_c_in, ns_t_aaaa, &Impl::on_answer,
             new Impl::Question{impl_, p, false});
  impl_->schedule();
}

asio::awaitable<Answer> Resolver::resolve(std::string name) {
  // Shared with the callback, which may run after this coroutine was cancelled and destroyed.
  struct Wait {
    explicit Wait(const asio::any_io_executor& ex)
        : signal(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer signal;
    std::optional<Answer> answer;
  };
  auto wait = std::make_shared<Wait>(co_await asio::this_coro::executor);
  lookup(name, [wait](Answer a) {
    wait->answer = std::move(a);
    wait->signal.cancel();
  });
  boost::system::error_code ec;
  co_await wait->signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!wait->answer) co_return Answer{Answer::Status::error, "cancelled", {}};
  co_return std::move(*wait->answer);
}

std::uint64_t Resolver::lookups_started() const noexcept {
  return impl_->lookups;
}

}  // namespace egress::resolve
