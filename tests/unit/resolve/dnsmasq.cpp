#include "dnsmasq.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace egress::resolve::test {

namespace {

constexpr const char* dnsmasq_path = "/usr/sbin/dnsmasq";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether a UDP socket is bound to 127.0.0.1:port in this thread's network namespace.
bool udp_bound(std::uint16_t port) {
  char needle[32];
  std::snprintf(needle, sizeof needle, " 0100007F:%04X ", port);
  return slurp("/proc/thread-self/net/udp").find(needle) != std::string::npos;
}

template <typename Predicate>
bool wait_for(Predicate done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace

std::string enter_private_network() {
  static const std::string why = []() -> std::string {
    if (geteuid() != 0)
      return "needs root: the test runs dnsmasq in a network namespace of its own";
    if (access(dnsmasq_path, X_OK) != 0) {
      return std::string(dnsmasq_path) + " not found: install dnsmasq-base (make deps)";
    }
    if (unshare(CLONE_NEWNET) != 0) {
      return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
              (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
    int error = errno;
    if (fd >= 0) close(fd);
    if (!up) return std::string("bringing lo up: ") + std::strerror(error);
    return "";
  }();
  return why;
}

Dnsmasq::Dnsmasq(std::uint16_t port, std::vector<std::string> records)
    : port_(port), records_(std::move(records)) {
  char tmpl[] = "/tmp/egress-resolve-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::ofstream(dir_ + "/hosts") << "";
}

Dnsmasq::~Dnsmasq() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void Dnsmasq::start() {
  std::vector<std::string> args = {
      dnsmasq_path,
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      "--bind-interfaces",
      "--listen-address=127.0.0.1",
      "--port=" + std::to_string(port_),
      "--user=root",
      "--pid-file=" + dir_ + "/pid",
      "--log-queries",
      "--log-facility=" + dir_ + "/log",
      "--addn-hosts=" + dir_ + "/hosts",
      // Names under .test are ours: anything not in the records is NXDOMAIN, never forwarded.
      "--local=/test/",
      "--local-ttl=1",
  };
  args.insert(args.end(), records_.begin(), records_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Dies with the test process, whatever way it ends.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  bool listening = wait_for(
      [&] {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;
        }
        return udp_bound(port_);
      },
      std::chrono::seconds(5));
  if (pid_ < 0 || !listening) {
    stop();
    throw std::runtime_error("dnsmasq did not start; its log: " + read_log());
  }
}

void Dnsmasq::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  if (!wait_for([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, std::chrono::seconds(5))) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

void Dnsmasq::set_hosts(std::string_view contents) {
  std::string path = dir_ + "/hosts";
  std::string needle = "read " + path;
  int before = count_in_log(needle);
  std::ofstream(path, std::ios::trunc) << contents;
  kill(pid_, SIGHUP);
  if (!wait_for([&] { return count_in_log(needle) > before; }, std::chrono::seconds(5))) {
    throw std::runtime_error("dnsmasq did not reread " + path + "; its log: " + read_log());
  }
}

int Dnsmasq::queries(std::string_view type, std::string_view name) const {
  return count_in_log("query[" + std::string(type) + "] " + std::string(name) + " from");
}

std::string Dnsmasq::read_log() const {
  return slurp(dir_ + "/log");
}

int Dnsmasq::count_in_log(std::string_view needle) const {
  std::string log = read_log();
  int n = 0;
  for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace egress::resolve::test
