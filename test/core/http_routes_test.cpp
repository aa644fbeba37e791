// The host's route table: exact paths, ABI 1.3 prefix routes, and route structs written by
// modules built for older minors.
#include <catch2/catch.hpp>
#include <net/connection_front.hpp>
#include <net/http_server.hpp>

#include <trib_test/support.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <mutex>
#include <condition_variable>
#include <thread>
#include <vector>

using trib::core::HttpServer;
using trib::core::Route;

namespace {

void handler(void *, const trib_http_request *, trib_http_response *) {}

Route route(const std::string &method, const std::string &path, bool prefix, const std::string &owner) {
    Route r;
    r.method = method;
    r.path = path;
    r.prefix = prefix;
    r.handler = &handler;
    r.owner = owner;
    return r;
}

// Which route answers method+path: its owner, "404", or "405 <allowed>".
std::string answer(const HttpServer &s, const std::string &method, const std::string &path) {
    bool known = false;
    std::string allowed;
    auto r = s.find(method, path, known, allowed);
    if (r) return r->owner;
    return known ? "405 " + allowed : "404";
}

HttpServer unstarted() { return HttpServer("127.0.0.1", 0, trib::core::HttpListenerConfig{}, nullptr, nullptr); }

} // namespace

TEST_CASE("prefix routes: exact beats prefix, longest prefix wins, others unchanged", "[core][http][routes]") {
    HttpServer s = unstarted();
    std::string err;
    REQUIRE(s.add_route(route("GET", "/api/v1/traces", false, "list"), err));
    REQUIRE(s.add_route(route("GET", "/api/v1/traces/", true, "by-id"), err));
    REQUIRE(s.add_route(route("GET", "/api/v1/", true, "api"), err));
    REQUIRE(s.add_route(route("GET", "/api/v1/traces/special", false, "special"), err));

    CHECK(answer(s, "GET", "/api/v1/traces") == "list");
    CHECK(answer(s, "GET", "/api/v1/traces/abc") == "by-id");
    CHECK(answer(s, "GET", "/api/v1/traces/a/b") == "by-id");
    CHECK(answer(s, "GET", "/api/v1/traces/") == "by-id");
    CHECK(answer(s, "GET", "/api/v1/traces/special") == "special"); // exact beats the prefix
    CHECK(answer(s, "GET", "/api/v1/other") == "api");
    CHECK(answer(s, "GET", "/api/v1") == "404"); // a prefix ends in '/', so its bare name is not under it
    CHECK(answer(s, "GET", "/api/v2/x") == "404");
    CHECK(answer(s, "POST", "/api/v1/traces/abc") == "405 GET");

    SECTION("a prefix must end in '/' and is registered once per method") {
        CHECK_FALSE(s.add_route(route("GET", "/ui", true, "x"), err));
        CHECK_THAT(err, Catch::Contains("must end in '/'"));
        CHECK_FALSE(s.add_route(route("GET", "/api/v1/traces/", true, "again"), err));
        CHECK_THAT(err, Catch::Contains("prefix route GET /api/v1/traces/ is already registered by by-id"));
        // The same string as an exact route is a different route.
        CHECK(s.add_route(route("GET", "/api/v1/traces/", false, "exact-slash"), err));
        CHECK(answer(s, "GET", "/api/v1/traces/") == "exact-slash");
        CHECK(answer(s, "GET", "/api/v1/traces/abc") == "by-id");
    }
    SECTION("removing an owner's routes removes its prefixes") {
        s.remove_routes("by-id");
        CHECK(answer(s, "GET", "/api/v1/traces/abc") == "api");
        s.remove_routes("api");
        CHECK(answer(s, "GET", "/api/v1/traces/abc") == "404");
        CHECK(answer(s, "GET", "/api/v1/traces") == "list");
    }
}

TEST_CASE("route structs: an older minor's layout has no flags; 1.3 flags are read", "[core][http][routes][abi]") {
    static_assert(TRIB_ABI_MINOR_CURRENT >= 3, "flags arrived in 1.3");
    // What a module built with TRIB_ABI_TARGET_MINOR <= 2 writes: the struct ends at `user`
    // (flags lie past struct_size; whatever bytes follow must be ignored).
    const uint32_t old_size = uint32_t(offsetof(trib_http_route, user) + sizeof(void *));
    CHECK(old_size <= offsetof(trib_http_route, flags));
    CHECK(sizeof(trib_http_route) > old_size);

    trib_http_route in;
    std::memset(&in, 0xff, sizeof in); // garbage where an old module's struct has ended
    in.struct_size = old_size;
    in.method = trib_str{"GET", 3};
    in.path = trib_str{"/old/", 5};
    in.max_body_bytes = 7;
    in.handler = &handler;
    in.user = nullptr;
    Route out;
    std::string err;
    REQUIRE(trib::core::route_from_abi(in, out, err));
    CHECK_FALSE(out.prefix);
    CHECK(out.path == "/old/");
    CHECK(out.max_body_bytes == 7);

    in.struct_size = sizeof in;
    in.flags = TRIB_ROUTE_PATH_PREFIX;
    REQUIRE(trib::core::route_from_abi(in, out, err));
    CHECK(out.prefix);

    in.flags = 0x80;
    CHECK_FALSE(trib::core::route_from_abi(in, out, err));
    CHECK_THAT(err, Catch::Contains("unknown flags"));

    in.struct_size = uint32_t(offsetof(trib_http_route, handler));
    CHECK_FALSE(trib::core::route_from_abi(in, out, err));
    CHECK_THAT(err, Catch::Contains("too small"));
}

namespace {

// A handler that works for `sleep_ms` and records how many handlers ran at once.
struct SlowHandler {
    std::atomic<int> running{0}, most{0};
    int sleep_ms = 0;
    static void run(void *user, const trib_http_request *, trib_http_response *resp) {
        auto *self = static_cast<SlowHandler *>(user);
        int now = ++self->running;
        int seen = self->most.load();
        while (now > seen && !self->most.compare_exchange_weak(seen, now)) {}
        std::this_thread::sleep_for(std::chrono::milliseconds(self->sleep_ms));
        --self->running;
        resp->respond(resp, 200, {"text/plain", 10}, nullptr, 0, {reinterpret_cast<const uint8_t *>("ok\n"), 3});
    }
};

std::vector<trib::test::HttpResult> post_at_once(uint16_t port, int n) {
    std::vector<trib::test::HttpResult> results(static_cast<size_t>(n));
    std::vector<std::thread> clients;
    for (int i = 0; i < n; ++i)
        clients.emplace_back([&, i] {
            results[size_t(i)] = trib::test::http("POST", "http://127.0.0.1:" + std::to_string(port) + "/slow",
                                                  std::string(1000, 'x'), "text/plain");
        });
    for (auto &t : clients) t.join();
    return results;
}

} // namespace

TEST_CASE("max_active_handlers: busy connections wait for a handler slot, then get 503 after read_timeout",
          "[core][http][limits]") {
    SlowHandler slow;
    trib::core::HttpListenerConfig cfg;
    cfg.max_active_handlers = 2;
    cfg.read_timeout = std::chrono::milliseconds(1500);
    uint16_t port = uint16_t(trib::test::free_port());
    HttpServer server("127.0.0.1", port, cfg, nullptr, [](const std::string &, const std::string &) {
        return std::optional<trib::core::BuiltinResponse>();
    });
    Route r = route("POST", "/slow", false, "test/0");
    r.handler = &SlowHandler::run;
    r.user = &slow;
    std::string err;
    REQUIRE(server.add_route(r, err));
    server.start();
    CHECK(server.handler_slots().limit() == 2);

    // Six uploads at once, 200 ms of work each: all answered, never more than two handlers.
    slow.sleep_ms = 200;
    for (auto &res : post_at_once(port, 6)) CHECK(res.status == 200);
    CHECK(slow.most.load() == 2);
    CHECK(server.stats().handler_wait_timeouts.load() == 0);

    // Handlers longer than the wait: two run, the others are told to come back.
    slow.sleep_ms = 2500;
    int ok = 0, busy = 0;
    for (auto &res : post_at_once(port, 4)) {
        ok += res.status == 200;
        if (res.status == 503) {
            ++busy;
            CHECK(res.header("retry-after") == "1");
        }
    }
    CHECK(ok == 2);
    CHECK(busy == 2);
    CHECK(server.stats().handler_wait_timeouts.load() == 2);
    CHECK(slow.most.load() == 2);
    server.stop();
}

namespace {

long thread_count() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
    return -1;
}

} // namespace

TEST_CASE("connection front: the worker threads of a burst exit once idle, a few are kept", "[core][http][threads]") {
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(lfd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(lfd, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr *>(&addr), &len) == 0);
    const uint16_t port = ntohs(addr.sin_port);

    constexpr int kClients = 12;
    std::mutex mu;
    std::condition_variable cv;
    int serving = 0;
    trib::core::ConnectionLimits limits;
    limits.worker_idle_exit = std::chrono::milliseconds(300);
    limits.workers_kept = 2;
    trib::core::ConnectionFront front({trib::core::FrontListener{lfd}}, limits, [&](trib::core::ServedConnection &c) {
        char buf[1024];
        [[maybe_unused]] auto n = ::recv(c.fd, buf, sizeof buf, 0);
        {
            // Every client holds a worker at once: the burst needs kClients threads.
            std::unique_lock<std::mutex> lk(mu);
            ++serving;
            cv.notify_all();
            cv.wait_for(lk, std::chrono::seconds(10), [&] { return serving >= kClients; });
        }
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        [[maybe_unused]] auto m = ::send(c.fd, answer, sizeof answer - 1, MSG_NOSIGNAL);
        ::close(c.fd);
    });
    front.start();
    const long before = thread_count(); // this thread and the front's

    std::vector<trib::test::HttpResult> results(static_cast<size_t>(kClients));
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
        clients.emplace_back(
            [&, i] { results[size_t(i)] = trib::test::http("GET", "http://127.0.0.1:" + std::to_string(port) + "/"); });
    for (auto &t : clients) t.join();
    for (auto &r : results) CHECK(r.status == 200);
    CHECK(serving == kClients);
    const long busy = thread_count();
    CHECK(busy >= before + kClients);
    // Idle for 300 ms, all but two workers exit (their stacks go back to the kernel).
    CHECK(trib::test::wait_until([&] { return thread_count() <= before + 2; }, std::chrono::seconds(10),
                                 std::chrono::milliseconds(50)));
    INFO("threads before " << before << ", during the burst " << busy << ", after " << thread_count());
    CHECK(thread_count() == before + 2);

    // Served again after the exits, by a kept worker or a new one.
    {
        std::lock_guard<std::mutex> lk(mu);
        serving = kClients; // no more waiting in the serve function
    }
    CHECK(trib::test::http("GET", "http://127.0.0.1:" + std::to_string(port) + "/").status == 200);
    front.stop();
}
