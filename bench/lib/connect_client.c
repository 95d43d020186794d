// connect_rate's client (issue 20): for --duration seconds, keeps --concurrency connections to an
// explicit proxy, each `CONNECT <target> HTTP/1.1`, waits for the 200 (as curl does: nothing is
// pipelined), sends `GET / HTTP/1.0` through the tunnel, reads the upstream's answer to the end,
// checks it is `ok <target>` (the bench upstream names its own address) and closes. One epoll
// thread, as wrk. Prints one JSON line: connections completed, failures (and the first), seconds.
//   connect_client PROXY_IP:PORT TARGET_IP:PORT DURATION_S CONCURRENCY
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, READ_HEAD, READ_BODY };

struct conn {
  int fd;
  enum state st;
  double started;
  size_t len;
  char buf[1024];
};

static struct sockaddr_in proxy;
static char target[64], connect_req[256], get_req[128], want_body[96];
static long done, failed;
static char first_error[200];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char* s, struct sockaddr_in* a) {
  char host[64];
  const char* colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, colon - s);
  host[colon - s] = 0;
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons((unsigned short)atoi(colon + 1));
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void fail(struct conn* c, const char* what) {
  failed++;
  if (!first_error[0]) {
    char shown[48] = {0};
    size_t n = c->len < sizeof shown - 1 ? c->len : sizeof shown - 1;
    for (size_t i = 0; i < n; i++) shown[i] = (c->buf[i] >= 32 && c->buf[i] < 127) ? c->buf[i] : '.';
    snprintf(first_error, sizeof first_error, "%s (errno %d, read: %s)", what, errno, shown);
  }
}

static int open_conn(int ep, struct conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->st = CONNECTING;
  c->len = 0;
  c->started = now();
  if (connect(c->fd, (struct sockaddr*)&proxy, sizeof proxy) < 0 && errno != EINPROGRESS) {
    fail(c, "connect");
    close(c->fd);
    c->fd = -1;
    c->started = 0;
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
  return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

// Returns 1 when the connection is finished (ok or failed), 0 to keep waiting.
static int step(int ep, struct conn* c, unsigned events) {
  if (c->st == CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      errno = err;
      fail(c, "connect to the proxy");
      return 1;
    }
    if (!(events & EPOLLOUT)) return 0;
    if (write(c->fd, connect_req, strlen(connect_req)) != (ssize_t)strlen(connect_req)) {
      fail(c, "write CONNECT");
      return 1;
    }
    c->st = READ_HEAD;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
  }
  for (;;) {
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (n < 0) {
      if (errno == EAGAIN) return 0;
      fail(c, c->st == READ_HEAD ? "read the CONNECT answer" : "read through the tunnel");
      return 1;
    }
    if (n == 0) {
      if (c->st == READ_HEAD) {
        fail(c, "proxy closed before answering the CONNECT");
        return 1;
      }
      c->buf[c->len] = 0;
      const char* body = strstr(c->buf, "\r\n\r\n");
      if (!body || strncmp(body + 4, want_body, strlen(want_body)) != 0) {
        fail(c, "unexpected answer through the tunnel");
        return 1;
      }
      done++;
      return 1;
    }
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    if (c->len >= sizeof c->buf - 1) {
      fail(c, "answer too long");
      return 1;
    }
    if (c->st == READ_HEAD) {
      char* end = strstr(c->buf, "\r\n\r\n");
      if (!end) continue;
      if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0 && strncmp(c->buf, "HTTP/1.0 200", 12) != 0) {
        fail(c, "CONNECT refused");
        return 1;
      }
      if (end + 4 != c->buf + c->len) {
        fail(c, "bytes after the 200 before any request");
        return 1;
      }
      if (write(c->fd, get_req, strlen(get_req)) != (ssize_t)strlen(get_req)) {
        fail(c, "write the request");
        return 1;
      }
      c->st = READ_BODY;
      c->len = 0;
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 5 || parse_addr(argv[1], &proxy) != 0) {
    fprintf(stderr, "usage: connect_client PROXY_IP:PORT TARGET_IP:PORT DURATION_S CONCURRENCY\n");
    return 2;
  }
  snprintf(target, sizeof target, "%s", argv[2]);
  double duration = atof(argv[3]);
  int concurrency = atoi(argv[4]);
  snprintf(connect_req, sizeof connect_req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
  snprintf(get_req, sizeof get_req, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", target);
  snprintf(want_body, sizeof want_body, "ok %s", target);
  int ep = epoll_create1(0);
  struct conn* conns = calloc((size_t)concurrency, sizeof *conns);
  for (int i = 0; i < concurrency; i++) conns[i].fd = -1;
  double t0 = now(), deadline = t0 + duration;
  int live = 0;
  for (int i = 0; i < concurrency; i++)
    if (open_conn(ep, &conns[i]) == 0) live++;
  struct epoll_event evs[256];
  while (live > 0) {
    int n = epoll_wait(ep, evs, 256, 100);
    double t = now();
    for (int i = 0; i < n; i++) {
      struct conn* c = evs[i].data.ptr;
      if (!step(ep, c, evs[i].events)) continue;
      close(c->fd);
      c->fd = -1;
      c->started = 0;
      live--;
      if (t < deadline && open_conn(ep, c) == 0) live++;
    }
    // A connection that hangs for 5 s is a failure (a proxy that stalls must not look fast).
    for (int i = 0; i < concurrency; i++) {
      struct conn* c = &conns[i];
      if (c->fd >= 0 && c->started > 0 && t - c->started > 5) {
        errno = ETIMEDOUT;
        fail(c, "no answer within 5 s");
        close(c->fd);
        c->fd = -1;
        c->started = 0;
        live--;
        if (t < deadline && open_conn(ep, c) == 0) live++;
      }
    }
  }
  double seconds = now() - t0;
  printf("{\"connections\": %ld, \"failed\": %ld, \"seconds\": %.3f, \"first_error\": ", done, failed, seconds);
  if (first_error[0]) {
    putchar('"');
    for (const char* p = first_error; *p; p++)
      if (*p != '"' && *p != '\\') putchar(*p);
    puts("\"}");
  } else {
    puts("null}");
  }
  return 0;
}
