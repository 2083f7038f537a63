// Alert fan-out benchmark (issue 6 §7): N WebSocket clients subscribed to GET /v1/alerts on a real
// HttpServer over loopback, one publisher thread calling AlertHub::Publish, and one client
// thread reading every socket with epoll (raw frames: the server's frames are unmasked). Prints a
// table of alerts/s delivered to every client, deliveries/s, losses and publish-to-read latency.
//
//   osprey_alert_fanout_bench [--clients 1000] [--alerts 2000] [--window 32] [--io_threads 1,2]
//
// Two modes per I/O thread count:
// - paced: the publisher keeps at most --window alerts in flight per client on average, so no
//   client's queue overflows: the sustainable fan-out rate;
// - burst: the publisher publishes as fast as it can; slow readers lose alerts (counted from the
//   server's {"type":"lost"} notices), which shows the pipeline never waits.
// Not a ctest: wall-clock figures on a shared machine are noisy; run it alone for real numbers.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/options.h"
#include "daemon/alert_hub.h"
#include "daemon/http_server.h"

namespace osprey::daemon {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

struct Options {
  int clients = 1000;
  int alerts = 2000;
  int window = 32;
  std::vector<int> io_threads = {1, 2};
};

// One client: a socket and the frame parser's state.
struct Client {
  int fd = -1;
  std::string buffer;  // unparsed bytes
  int64_t alerts = 0;  // alert messages read
  int64_t lost = 0;    // alerts the server reported lost
  bool closed = false;
  bool accounted = false;  // closed, and its missing alerts counted as done
  bool sample_latency = false;
};

// Connects and performs the WebSocket handshake (blocking); returns the fd or -1.
int ConnectClient(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const std::string request =
      "GET /v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return -1;
  }
  std::string response;
  char c = 0;
  while (response.size() < 4 || response.compare(response.size() - 4, 4, "\r\n\r\n") != 0) {
    if (read(fd, &c, 1) != 1) {
      close(fd);
      return -1;
    }
    response += c;
  }
  if (response.compare(0, 12, "HTTP/1.1 101") != 0) {
    std::fprintf(stderr, "handshake refused: %s\n", response.c_str());
    close(fd);
    return -1;
  }
  return fd;
}

// Parses the complete frames in client.buffer. Latencies (ns) of sampled alerts go to
// *latencies; the publish time travels in the alert's "offset" field.
void ParseFrames(Client& client, std::vector<int64_t>* latencies, std::atomic<int64_t>& done) {
  size_t pos = 0;
  const std::string& b = client.buffer;
  while (b.size() - pos >= 2) {
    const auto b0 = static_cast<unsigned char>(b[pos]);
    const auto b1 = static_cast<unsigned char>(b[pos + 1]);
    size_t header = 2;
    uint64_t length = b1 & 0x7f;
    if (length == 126) {
      if (b.size() - pos < 4) break;
      length = (static_cast<uint64_t>(static_cast<unsigned char>(b[pos + 2])) << 8) |
               static_cast<unsigned char>(b[pos + 3]);
      header = 4;
    } else if (length == 127) {
      if (b.size() - pos < 10) break;
      length = 0;
      for (int idx = 0; idx < 8; ++idx) {
        length = (length << 8) | static_cast<unsigned char>(b[pos + 2 + idx]);
      }
      header = 10;
    }
    if (b.size() - pos < header + length) break;
    const std::string_view payload(b.data() + pos + header, length);
    const int opcode = b0 & 0x0f;
    if (opcode == 0x8) {
      client.closed = true;
    } else if (opcode == 0x9 && length <= 125) {
      // Pong with the ping's payload (a client frame must be masked: the zero key leaves the
      // payload as is). The server's keep-alive drops a connection that stays silent.
      std::string pong = {static_cast<char>(0x8a), static_cast<char>(0x80 | length), 0, 0, 0, 0};
      pong.append(payload);
      if (write(client.fd, pong.data(), pong.size()) < 0) client.closed = true;
    } else if (opcode == 0x1 || opcode == 0x0) {
      if (payload.substr(0, 15) == R"({"type":"lost",)") {
        const int64_t count = std::atoll(payload.data() + payload.find(':', 15) + 1);
        client.lost += count;
        done.fetch_add(count, std::memory_order_relaxed);
      } else {
        ++client.alerts;
        done.fetch_add(1, std::memory_order_relaxed);
        if (client.sample_latency) {
          const size_t at = payload.rfind(R"("offset":)");
          if (at != std::string_view::npos) {
            latencies->push_back(NowNanos() - std::atoll(payload.data() + at + 9));
          }
        }
      }
    }
    pos += header + length;
  }
  client.buffer.erase(0, pos);
}

struct RunResult {
  double seconds = 0;
  double publish_seconds = 0;
  int64_t delivered = 0;
  int64_t lost = 0;
  int closed = 0;
  bool complete = false;
  int64_t p50_us = 0;
  int64_t p99_us = 0;
  double cpu_seconds = 0;  // this process (server, publisher and clients), user + system
};

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

RunResult Run(const Options& options, int io_threads, bool paced) {
  AlertHub hub;
  RunResult result;
  {
    HttpRouter router;
    AddAlertFeed(router, hub);
    config::HttpOptions http;
    http.listen = "127.0.0.1:0";
    http.threads = io_threads;
    auto started = HttpServer::Start(http, std::move(router));
    if (!started.ok()) {
      std::fprintf(stderr, "server: %s\n", started.status().ToString().c_str());
      std::exit(1);
    }
    std::unique_ptr<HttpServer> server = std::move(started).value();

    std::vector<Client> clients(options.clients);
    const int epoll = epoll_create1(0);
    for (int idx = 0; idx < options.clients; ++idx) {
      clients[idx].fd = ConnectClient(server->port());
      if (clients[idx].fd < 0) {
        std::fprintf(stderr, "client %d could not connect: %s\n", idx, std::strerror(errno));
        std::exit(1);
      }
      clients[idx].sample_latency = idx % 16 == 0;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(idx);
      epoll_ctl(epoll, EPOLL_CTL_ADD, clients[idx].fd, &ev);
    }
    while (hub.subscriber_count() != static_cast<size_t>(options.clients)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }

    const int64_t expected = static_cast<int64_t>(options.alerts) * options.clients;
    std::atomic<int64_t> done{0};  // alerts read or reported lost, over all clients
    std::atomic<bool> stop{false};
    std::vector<int64_t> latencies;
    std::thread reader([&] {
      std::vector<epoll_event> events(256);
      char chunk[65536];
      while (!stop.load(std::memory_order_relaxed)) {
        const int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 50);
        for (int e = 0; e < n; ++e) {
          Client& client = clients[events[e].data.u32];
          const ssize_t got = read(client.fd, chunk, sizeof(chunk));
          if (got <= 0) {
            client.closed = true;
            epoll_ctl(epoll, EPOLL_CTL_DEL, client.fd, nullptr);
          } else {
            client.buffer.append(chunk, static_cast<size_t>(got));
            ParseFrames(client, &latencies, done);
          }
          if (client.closed && !client.accounted) {  // closed by the server (1008): no more
            client.accounted = true;
            done.fetch_add(std::max<int64_t>(0, options.alerts - client.alerts - client.lost));
          }
        }
      }
    });

    Alert alert;
    alert.pipeline = "rcf";
    alert.event_time_ms = 1764000000000;
    alert.score = 3.2;
    alert.grade = 0.8;
    alert.values_json = R"({"cpu":93.5,"latency_ms":41.2})";
    alert.attribution_json =
        R"({"cpu":{"ATTRIBUTION_SCORE":2.9,"STRENGTH":0.9,"DIRECTION":"HIGH"}})";
    alert.source_topic = "metrics";
    alert.partition = 0;
    const auto start = SteadyClock::now();
    const double cpu_start = CpuSeconds();
    for (int n = 0; n < options.alerts; ++n) {
      if (paced) {
        const int64_t allowed = static_cast<int64_t>(n - options.window) * options.clients;
        while (done.load(std::memory_order_relaxed) < allowed) {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
      alert.key = "host-" + std::to_string(n % 64);
      alert.offset = NowNanos();
      hub.Publish(alert);
    }
    result.publish_seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    const auto deadline = SteadyClock::now() + std::chrono::seconds(120);
    while (done.load() < expected && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    result.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    result.cpu_seconds = CpuSeconds() - cpu_start;
    result.complete = done.load() >= expected;
    stop.store(true);
    reader.join();
    for (const Client& c : clients) {
      result.delivered += c.alerts;
      result.lost += c.lost;
      result.closed += c.closed ? 1 : 0;
      close(c.fd);
    }
    close(epoll);
    std::sort(latencies.begin(), latencies.end());
    if (!latencies.empty()) {
      result.p50_us = latencies[latencies.size() / 2] / 1000;
      result.p99_us = latencies[latencies.size() * 99 / 100] / 1000;
    }
    server->Stop();
  }
  return result;
}

std::vector<int> ParseList(const char* text) {
  std::vector<int> out;
  for (const char* p = text; *p != '\0';) {
    out.push_back(std::atoi(p));
    const char* comma = std::strchr(p, ',');
    if (comma == nullptr) break;
    p = comma + 1;
  }
  return out;
}

}  // namespace
}  // namespace osprey::daemon

int main(int argc, char** argv) {
  using osprey::daemon::Options;
  Options options;
  for (int idx = 1; idx + 1 < argc; idx += 2) {
    const std::string name = argv[idx];
    if (name == "--clients") {
      options.clients = std::atoi(argv[idx + 1]);
    } else if (name == "--alerts") {
      options.alerts = std::atoi(argv[idx + 1]);
    } else if (name == "--window") {
      options.window = std::atoi(argv[idx + 1]);
    } else if (name == "--io_threads") {
      options.io_threads = osprey::daemon::ParseList(argv[idx + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", name.c_str());
      return 2;
    }
  }
  // Two descriptors per client (both ends live in this process).
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < static_cast<rlim_t>(2 * options.clients + 64)) {
    std::fprintf(stderr, "need %d file descriptors, the limit is %llu\n", 2 * options.clients + 64,
                 static_cast<unsigned long long>(limit.rlim_cur));  // NOLINT(google-runtime-int)
    return 1;
  }
  std::printf("alert fan-out: %d WebSocket clients on /v1/alerts, %d alerts per run, %u cores\n",
              options.clients, options.alerts, std::thread::hardware_concurrency());
  std::printf("%-6s %-10s %9s %9s %13s %13s %12s %8s %7s %9s %9s\n", "mode", "io_threads",
              "seconds", "cpu_s", "alerts/s/all", "deliveries/s", "cpu_us/deliv", "lost", "closed",
              "p50_us", "p99_us");
  for (int threads : options.io_threads) {
    for (bool paced : {true, false}) {
      const auto r = osprey::daemon::Run(options, threads, paced);
      // alerts/s/all: alerts per second that reached (or were accounted to) every client.
      const double per_all = options.alerts / r.seconds;
      std::printf("%-6s %-10d %9.2f %9.2f %13.0f %13.0f %12.2f %8lld %7d %9lld %9lld%s\n",
                  paced ? "paced" : "burst", threads, r.seconds, r.cpu_seconds, per_all,
                  static_cast<double>(r.delivered) / r.seconds,
                  r.cpu_seconds * 1e6 / static_cast<double>(std::max<int64_t>(r.delivered, 1)),
                  static_cast<long long>(r.lost), r.closed,  // NOLINT(google-runtime-int)
                  static_cast<long long>(r.p50_us),          // NOLINT(google-runtime-int)
                  static_cast<long long>(r.p99_us),          // NOLINT(google-runtime-int)
                  r.complete ? "" : "  (incomplete: timed out)");
      std::fflush(stdout);
    }
  }
  return 0;
}
