/* Upstream servers for the benchmark's internet namespace: a minimal HTTP server and a sink.
 *
 *   upstream http ADDR:PORT [ADDR:PORT...]   HTTP/1.x: answers every request with a small fixed
 *                                           body naming the address it was reached on ("ok
 *                                           203.0.113.10:80"), so the harness can check that a
 *                                           proxy forwarded to the original destination.
 *                                           HTTP/1.1 keeps the connection alive unless the request
 *                                           says "Connection: close"; HTTP/1.0 closes after the
 *                                           response (what `openssl s_time -www` expects).
 *   upstream sink ADDR:PORT [ADDR:PORT...]   reads and discards; holds idle connections open.
 *
 * One thread, epoll, edge-triggered, no allocation per request: it must never be the bottleneck
 * when wrk drives a proxy on a 2-core machine. On SIGTERM/SIGINT prints a JSON line with its
 * counters to stdout and exits. Built by bench/run.sh (cc -O2); not part of egressd. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTEN 16
#define MAX_FD 65536
#define BUF 65536

struct conn {
  uint16_t have;   /* bytes of an incomplete request kept in req */
  uint8_t lidx;    /* which listener accepted it (index into resp) */
  uint8_t in_use;
  char req[512];   /* tail of the request seen so far (headers only) */
};

static struct conn *conns;
static int nlisten;
static int lfds[MAX_LISTEN];
static char resp_ka[MAX_LISTEN][256], resp_close[MAX_LISTEN][256];
static int resp_ka_len[MAX_LISTEN], resp_close_len[MAX_LISTEN];
static volatile sig_atomic_t stop;
static unsigned long long accepted, requests, bytes_in;
static int sink;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
  char host[128];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, colon - s);
  host[colon - s] = 0;
  int port = atoi(colon + 1);
  memset(ss, 0, sizeof *ss);
  char *h = host;
  if (h[0] == '[') {
    h++;
    h[strlen(h) - 1] = 0;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    *len = sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    *len = sizeof *a6;
    return 0;
  }
  return -1;
}

/* A request is complete at "\r\n\r\n"; bodies are not expected (GET only). Returns how many
 * complete requests were found and whether the last one asked to close. */
static int scan_requests(struct conn *c, const char *data, size_t n, int *want_close) {
  int complete = 0;
  for (size_t i = 0; i < n; i++) {
    if (c->have < sizeof c->req - 1) c->req[c->have++] = data[i];
    if (c->have >= 4 && memcmp(c->req + c->have - 4, "\r\n\r\n", 4) == 0) {
      c->req[c->have] = 0;
      int http10 = strstr(c->req, "HTTP/1.0") != NULL;
      int close_hdr = strcasestr(c->req, "connection: close") != NULL;
      int ka_hdr = strcasestr(c->req, "connection: keep-alive") != NULL;
      *want_close = close_hdr || (http10 && !ka_hdr);
      complete++;
      c->have = 0;
    } else if (c->have >= sizeof c->req - 1) {
      /* Keep the last 3 bytes so a terminator split across reads is still seen. */
      memmove(c->req, c->req + c->have - 3, 3);
      c->have = 3;
    }
  }
  return complete;
}

static void close_conn(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  conns[fd].in_use = 0;
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[1], "http") && strcmp(argv[1], "sink"))) {
    fprintf(stderr, "usage: %s http|sink ADDR:PORT...\n", argv[0]);
    return 2;
  }
  sink = strcmp(argv[1], "sink") == 0;
  conns = calloc(MAX_FD, sizeof *conns);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int ep = epoll_create1(0);
  for (int i = 2; i < argc && nlisten < MAX_LISTEN; i++) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(argv[i], &ss, &len)) {
      fprintf(stderr, "bad address %s\n", argv[i]);
      return 2;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096)) {
      fprintf(stderr, "bind/listen %s: %s\n", argv[i], strerror(errno));
      return 1;
    }
    const char *body_addr = argv[i];
    char body[160];
    int bl = snprintf(body, sizeof body, "ok %s\n", body_addr);
    resp_ka_len[nlisten] = snprintf(resp_ka[nlisten], sizeof resp_ka[0],
                                    "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: "
                                    "text/plain\r\n\r\n%s",
                                    bl, body);
    resp_close_len[nlisten] = snprintf(resp_close[nlisten], sizeof resp_close[0],
                                       "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: "
                                       "text/plain\r\nConnection: close\r\n\r\n%s",
                                       bl, body);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd | (1ULL << 32)};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    lfds[nlisten++] = fd;
  }
  printf("{\"ready\":true}\n");
  fflush(stdout);

  static char buf[BUF];
  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < n; i++) {
      int fd = (int)(evs[i].data.u64 & 0xffffffff);
      if (evs[i].data.u64 >> 32) {
        int lidx = 0;
        while (lfds[lidx] != fd) lidx++;
        for (;;) {
          int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          if (c >= MAX_FD) {
            close(c);
            continue;
          }
          accepted++;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[c] = (struct conn){.lidx = (uint8_t)lidx, .in_use = 1};
          struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      struct conn *c = &conns[fd];
      int closing = 0;
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0) {
          closing = 1;
          break;
        }
        if (r < 0) {
          if (errno != EAGAIN && errno != EINTR) closing = 1;
          if (errno == EINTR) continue;
          break;
        }
        bytes_in += (unsigned long long)r;
        if (sink) continue;
        int want_close = 0;
        int k = scan_requests(c, buf, (size_t)r, &want_close);
        for (int j = 0; j < k; j++) {
          requests++;
          /* Pipelined requests all get the keep-alive answer except the last one when it asked
           * to close; responses are a few bytes, so a short write means the peer is gone. */
          int last = j == k - 1;
          const char *p = (last && want_close) ? resp_close[c->lidx] : resp_ka[c->lidx];
          int len = (last && want_close) ? resp_close_len[c->lidx] : resp_ka_len[c->lidx];
          if (write(fd, p, len) != len) closing = 1;
        }
        if (k && want_close) {
          shutdown(fd, SHUT_WR);
          closing = 1;
          break;
        }
      }
      if (closing) close_conn(ep, fd);
    }
  }
  printf("{\"accepted\":%llu,\"requests\":%llu,\"bytes_in\":%llu}\n", accepted, requests, bytes_in);
  fflush(stdout);
  return 0;
}
