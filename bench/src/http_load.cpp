// trib_bench_http: a closed-loop HTTP/1.1 load generator for upload benchmarks.
//
// N keep-alive connections (spread over T threads, one epoll loop each) send the same
// request — a fixed body read from a file — as fast as the server answers. Every
// request's latency (first byte written → last response byte read) is recorded. Only
// requests that complete inside the measuring window [warmup, warmup + duration) count.
// Prints one JSON object with uploads/s, MB/s (request bodies), latency percentiles and
// the status codes seen.
//
//   trib_bench_http --port 9529 --path /profiling/v1/input --body upload.multipart \
//       --header 'Content-Type: multipart/form-data; boundary=x' --connections 16 \
//       --duration 10 --warmup 2
//
// --path may contain %d, replaced by a per-request counter modulo --path-mod (used to
// PUT each body to its own file on nginx-store without filling the disk).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string_view>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string method = "POST";
    std::string path = "/";
    int path_mod = 4096;
    std::vector<std::string> headers;
    std::string body_file;
    int connections = 8;
    int threads = 1;
    double duration_s = 10;
    double warmup_s = 1;
    bool chunked = false;
    std::string label;
};

[[noreturn]] void usage(const char *why) {
    std::fprintf(stderr,
                 "trib_bench_http: %s\n"
                 "usage: trib_bench_http --port P [--host H] [--method M] [--path P(%%d)] [--path-mod N]\n"
                 "       --body FILE [--header 'K: V']... [--connections N] [--threads T]\n"
                 "       [--duration S] [--warmup S] [--chunked] [--label TEXT]\n",
                 why);
    std::exit(2);
}

Options parse_args(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--host") o.host = next();
        else if (a == "--port") o.port = std::atoi(next().c_str());
        else if (a == "--method") o.method = next();
        else if (a == "--path") o.path = next();
        else if (a == "--path-mod") o.path_mod = std::max(1, std::atoi(next().c_str()));
        else if (a == "--header") o.headers.push_back(next());
        else if (a == "--body") o.body_file = next();
        else if (a == "--connections") o.connections = std::atoi(next().c_str());
        else if (a == "--threads") o.threads = std::atoi(next().c_str());
        else if (a == "--duration") o.duration_s = std::atof(next().c_str());
        else if (a == "--warmup") o.warmup_s = std::atof(next().c_str());
        else if (a == "--chunked") o.chunked = true;
        else if (a == "--label") o.label = next();
        else usage(("unknown argument " + a).c_str());
    }
    if (o.port <= 0 || o.port > 65535) usage("--port is required");
    if (o.body_file.empty()) usage("--body is required");
    if (o.connections < 1 || o.threads < 1) usage("--connections and --threads must be >= 1");
    o.threads = std::min(o.threads, o.connections);
    return o;
}

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Everything of the request except the request line: built once, shared by all connections.
struct RequestTemplate {
    std::string method, path;
    bool path_has_counter = false;
    int path_mod = 1;
    std::string header_block; // "Host: ...\r\n...\r\n\r\n" incl. length/chunk framing
    std::string body;         // as sent on the wire (chunk-framed when chunked)
    size_t payload_bytes = 0; // the body file's size
};

RequestTemplate build_template(const Options &o) {
    RequestTemplate t;
    t.method = o.method;
    t.path = o.path;
    t.path_has_counter = o.path.find("%d") != std::string::npos;
    t.path_mod = o.path_mod;
    std::string payload = read_file(o.body_file);
    t.payload_bytes = payload.size();
    std::string h = "Host: " + o.host + ":" + std::to_string(o.port) + "\r\n";
    for (auto &x : o.headers) h += x + "\r\n";
    h += "Connection: keep-alive\r\n";
    if (o.chunked) {
        // dd-trace's shape: Transfer-Encoding: chunked, the body as one chunk.
        h += "Transfer-Encoding: chunked\r\n\r\n";
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", payload.size());
        t.body = size_line + payload + "\r\n0\r\n\r\n";
    } else {
        h += "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n";
        t.body = std::move(payload);
    }
    t.header_block = std::move(h);
    return t;
}

struct Stats {
    uint64_t ok = 0, failed = 0, errors = 0, reconnects = 0;
    std::map<int, uint64_t> status_counts;
    std::vector<uint32_t> latencies_us; // requests completed in the window
};

// One connection's state machine: write the request, read one response, repeat.
struct Conn {
    int fd = -1;
    std::string head; // request line + headers of the current request
    size_t sent = 0;  // bytes of head+body written
    std::string in;   // response bytes read so far
    Clock::time_point started;
    bool sending = false;
};

class Worker {
  public:
    Worker(const Options &o, const RequestTemplate &t, const sockaddr_storage &addr, socklen_t alen, int nconn,
           std::atomic<uint64_t> &counter)
        : o_(o), t_(t), addr_(addr), alen_(alen), conns_(nconn), counter_(counter) {}

    void run(Clock::time_point t0, Clock::time_point window_start, Clock::time_point window_end) {
        window_start_ = window_start;
        window_end_ = window_end;
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
        (void)t0;
        for (auto &c : conns_) open(c);
        std::vector<epoll_event> evs(conns_.size() + 1);
        // Stop starting requests at window_end; let in-flight ones finish for a grace period.
        const auto hard_end = window_end_ + std::chrono::seconds(10);
        while (true) {
            auto now = Clock::now();
            if (now >= hard_end) break;
            bool any_open = false;
            for (auto &c : conns_) any_open |= c.fd >= 0;
            if (!any_open) break;
            int n = epoll_wait(ep_, evs.data(), int(evs.size()), 100);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error("epoll_wait failed");
            }
            for (int i = 0; i < n; ++i) handle(conns_[evs[i].data.u32], evs[i].events);
        }
        for (auto &c : conns_) close_conn(c);
        ::close(ep_);
    }

    Stats stats;

  private:
    void open(Conn &c) {
        if (Clock::now() >= window_end_) return;
        c.fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) throw std::runtime_error("socket failed");
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int r = ::connect(c.fd, reinterpret_cast<const sockaddr *>(&addr_), alen_);
        if (r < 0 && errno != EINPROGRESS) {
            ++stats.errors;
            ::close(c.fd);
            c.fd = -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            return;
        }
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLIN;
        ev.data.u32 = uint32_t(&c - conns_.data());
        epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
        begin_request(c);
    }

    void close_conn(Conn &c) {
        if (c.fd >= 0) {
            epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
            c.fd = -1;
        }
    }

    void reconnect(Conn &c) {
        close_conn(c);
        ++stats.reconnects;
        open(c);
    }

    void begin_request(Conn &c) {
        std::string path = t_.path;
        if (t_.path_has_counter) {
            uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed) % uint64_t(t_.path_mod);
            path.replace(path.find("%d"), 2, std::to_string(n));
        }
        c.head = t_.method + " " + path + " HTTP/1.1\r\n" + t_.header_block;
        c.sent = 0;
        c.in.clear();
        c.sending = true;
        c.started = Clock::now();
        set_events(c, EPOLLOUT | EPOLLIN);
    }

    void set_events(Conn &c, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u32 = uint32_t(&c - conns_.data());
        epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }

    void handle(Conn &c, uint32_t events) {
        if (c.fd < 0) return;
        if (events & (EPOLLERR)) {
            ++stats.errors;
            reconnect(c);
            return;
        }
        if (c.sending && (events & EPOLLOUT)) {
            if (!write_some(c)) return;
        }
        if (events & (EPOLLIN | EPOLLHUP)) read_some(c);
    }

    // false when the connection was dropped.
    bool write_some(Conn &c) {
        const size_t total = c.head.size() + t_.body.size();
        while (c.sent < total) {
            iovec iov[2];
            int n = 0;
            if (c.sent < c.head.size()) {
                iov[n++] = {const_cast<char *>(c.head.data()) + c.sent, c.head.size() - c.sent};
                iov[n++] = {const_cast<char *>(t_.body.data()), t_.body.size()};
            } else {
                size_t off = c.sent - c.head.size();
                iov[n++] = {const_cast<char *>(t_.body.data()) + off, t_.body.size() - off};
            }
            ssize_t w = ::writev(c.fd, iov, n);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
                if (errno == EINTR) continue;
                ++stats.errors;
                reconnect(c);
                return false;
            }
            c.sent += size_t(w);
        }
        c.sending = false;
        set_events(c, EPOLLIN);
        return true;
    }

    void read_some(Conn &c) {
        char buf[65536];
        while (true) {
            ssize_t r = ::read(c.fd, buf, sizeof buf);
            if (r > 0) {
                c.in.append(buf, size_t(r));
                continue;
            }
            if (r == 0) {                     // peer closed: a response cut short, or a close after it
                if (!try_complete(c, true)) { // try_complete reconnects after a whole response
                    ++stats.errors;
                    reconnect(c);
                }
                return;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            ++stats.errors;
            reconnect(c);
            return;
        }
        try_complete(c, false);
    }

    static bool iequal_prefix(std::string_view line, std::string_view name) {
        if (line.size() < name.size()) return false;
        for (size_t i = 0; i < name.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(line[i])) != std::tolower(static_cast<unsigned char>(name[i])))
                return false;
        return true;
    }

    // Parses c.in; when a whole response is there, records it and starts the next request.
    bool try_complete(Conn &c, bool eof) {
        size_t hdr_end = c.in.find("\r\n\r\n");
        if (hdr_end == std::string::npos) return false;
        std::string_view head(c.in.data(), hdr_end);
        int status = 0;
        if (head.size() > 12 && head.substr(0, 5) == "HTTP/")
            status = std::atoi(std::string(head.substr(9, 3)).c_str());
        long long content_length = -1;
        bool chunked = false, close_after = false;
        size_t pos = head.find("\r\n");
        while (pos != std::string_view::npos && pos < head.size()) {
            size_t next = head.find("\r\n", pos + 2);
            std::string_view line =
                head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
            if (iequal_prefix(line, "content-length:"))
                content_length = std::atoll(std::string(line.substr(15)).c_str());
            else if (iequal_prefix(line, "transfer-encoding:") && line.find("chunked") != std::string_view::npos)
                chunked = true;
            else if (iequal_prefix(line, "connection:") && line.find("close") != std::string_view::npos)
                close_after = true;
            pos = next;
        }
        size_t body_start = hdr_end + 4;
        size_t resp_end = 0;
        if (chunked) {
            size_t p = body_start;
            while (true) {
                size_t le = c.in.find("\r\n", p);
                if (le == std::string::npos) return false;
                unsigned long sz = std::strtoul(c.in.c_str() + p, nullptr, 16);
                if (sz == 0) {
                    size_t te = c.in.find("\r\n\r\n", le); // no trailers: found at le
                    if (te == std::string::npos) return false;
                    resp_end = te + 4;
                    break;
                }
                p = le + 2 + sz + 2;
                if (p > c.in.size()) return false;
            }
        } else if (content_length >= 0) {
            if (c.in.size() < body_start + size_t(content_length)) return false;
            resp_end = body_start + size_t(content_length);
        } else if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
            resp_end = body_start;
        } else {
            if (!eof) return false; // body delimited by close
            resp_end = c.in.size();
            close_after = true;
        }
        record(c, status);
        if (close_after || eof) {
            reconnect(c);
        } else {
            c.in.erase(0, resp_end);
            if (Clock::now() >= window_end_) close_conn(c);
            else begin_request(c);
        }
        return true;
    }

    void record(Conn &c, int status) {
        auto now = Clock::now();
        ++stats.status_counts[status];
        if (now < window_start_ || now >= window_end_) return;
        if (status >= 200 && status < 300) {
            ++stats.ok;
            stats.latencies_us.push_back(
                uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(now - c.started).count()));
        } else {
            ++stats.failed;
        }
    }

    const Options &o_;
    const RequestTemplate &t_;
    sockaddr_storage addr_;
    socklen_t alen_;
    std::vector<Conn> conns_;
    std::atomic<uint64_t> &counter_;
    int ep_ = -1;
    Clock::time_point window_start_, window_end_;
};

double percentile_ms(std::vector<uint32_t> &sorted, double q) {
    if (sorted.empty()) return 0;
    size_t idx = size_t(q * double(sorted.size() - 1) + 0.5);
    return sorted[std::min(idx, sorted.size() - 1)] / 1000.0;
}

std::string json_escape(const std::string &s) {
    std::string out;
    for (char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", ch);
            out += b;
        } else out += ch;
    }
    return out;
}

} // namespace

int main(int argc, char **argv) {
    try {
        Options o = parse_args(argc, argv);
        RequestTemplate t = build_template(o);

        addrinfo hints{}, *res = nullptr;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        if (int rc = getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res); rc != 0 || !res)
            throw std::runtime_error(std::string("cannot resolve ") + o.host + ": " + gai_strerror(rc));
        sockaddr_storage addr{};
        std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
        socklen_t alen = socklen_t(res->ai_addrlen);
        freeaddrinfo(res);

        std::atomic<uint64_t> counter{0};
        std::vector<std::unique_ptr<Worker>> workers;
        for (int i = 0; i < o.threads; ++i) {
            int n = o.connections / o.threads + (i < o.connections % o.threads ? 1 : 0);
            workers.push_back(std::make_unique<Worker>(o, t, addr, alen, n, counter));
        }
        auto t0 = Clock::now();
        auto ws = t0 + std::chrono::microseconds(int64_t(o.warmup_s * 1e6));
        auto we = ws + std::chrono::microseconds(int64_t(o.duration_s * 1e6));
        std::vector<std::thread> threads;
        std::vector<std::string> thread_errors(workers.size());
        for (size_t i = 0; i < workers.size(); ++i)
            threads.emplace_back([&, i] {
                try {
                    workers[i]->run(t0, ws, we);
                } catch (const std::exception &e) {
                    thread_errors[i] = e.what();
                }
            });
        for (auto &th : threads) th.join();
        for (auto &e : thread_errors)
            if (!e.empty()) throw std::runtime_error(e);

        Stats all;
        for (auto &w : workers) {
            all.ok += w->stats.ok;
            all.failed += w->stats.failed;
            all.errors += w->stats.errors;
            all.reconnects += w->stats.reconnects;
            for (auto &[k, v] : w->stats.status_counts) all.status_counts[k] += v;
            all.latencies_us.insert(all.latencies_us.end(), w->stats.latencies_us.begin(), w->stats.latencies_us.end());
        }
        std::sort(all.latencies_us.begin(), all.latencies_us.end());
        double secs = o.duration_s;
        double rps = double(all.ok) / secs;
        double mbps = rps * double(t.payload_bytes) / 1e6;
        std::printf("{\"label\":\"%s\",\"connections\":%d,\"threads\":%d,\"duration_s\":%.3f,\"body_bytes\":%zu,"
                    "\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"reconnects\":%" PRIu64 ","
                    "\"uploads_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
                    "\"max_ms\":%.3f,\"status\":{",
                    json_escape(o.label).c_str(), o.connections, o.threads, secs, t.payload_bytes, all.ok, all.failed,
                    all.errors, all.reconnects, rps, mbps, percentile_ms(all.latencies_us, 0.50),
                    percentile_ms(all.latencies_us, 0.90), percentile_ms(all.latencies_us, 0.99),
                    all.latencies_us.empty() ? 0.0 : all.latencies_us.back() / 1000.0);
        bool first = true;
        for (auto &[k, v] : all.status_counts) {
            std::printf("%s\"%d\":%" PRIu64, first ? "" : ",", k, v);
            first = false;
        }
        std::printf("}}\n");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "trib_bench_http: %s\n", e.what());
        return 1;
    }
}
