#include "etcd_election.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <istream>
#include <stdexcept>
#include <unistd.h>

namespace trib::core {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using json = nlohmann::json;

// etcd could not be reached or answered garbage: retry, maybe on another endpoint.
struct EtcdUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// etcd answered with a gRPC error status (gateway body {"error","message","code"}).
struct EtcdRejected : std::runtime_error {
    EtcdRejected(int grpc_code, const std::string &message) : std::runtime_error(message), code(grpc_code) {}
    int code;
};
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcUnauthenticated = 16;

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::string &in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += kBase64Alphabet[(v >> 18) & 63];
        out += kBase64Alphabet[(v >> 12) & 63];
        out += kBase64Alphabet[(v >> 6) & 63];
        out += kBase64Alphabet[v & 63];
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += kBase64Alphabet[(v >> 18) & 63];
        out += kBase64Alphabet[(v >> 12) & 63];
        out += i + 1 < in.size() ? kBase64Alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string base64_decode(const std::string &in) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
        int value;
        if (c >= 'A' && c <= 'Z') value = c - 'A';
        else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
        else if (c >= '0' && c <= '9') value = c - '0' + 52;
        else if (c == '+') value = 62;
        else if (c == '/') value = 63;
        else if (c == '=') break;
        else throw EtcdUnavailable("etcd sent invalid base64");
        buffer = (buffer << 6) | static_cast<unsigned>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

// The gateway writes 64-bit integers as strings and leaves zero values out.
std::int64_t int_field(const json &object, const char *name) {
    if (!object.is_object()) return 0;
    auto it = object.find(name);
    if (it == object.end() || it->is_null()) return 0;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (it->is_string()) {
        try {
            return std::stoll(it->get<std::string>());
        } catch (const std::exception &) {
            throw EtcdUnavailable(std::string("etcd sent a non-numeric ") + name);
        }
    }
    throw EtcdUnavailable(std::string("etcd sent an unexpected ") + name);
}

std::int64_t header_revision(const json &response) {
    auto it = response.find("header");
    return it == response.end() ? 0 : int_field(*it, "revision");
}

const json *first_kv(const json &range_response) {
    auto it = range_response.find("kvs");
    if (it == range_response.end() || !it->is_array() || it->empty()) return nullptr;
    return &(*it)[0];
}

std::string lease_key(const std::string &name_space, std::int64_t lease_id) {
    char hex[20];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(static_cast<std::uint64_t>(lease_id)));
    return name_space + "/" + hex;
}

// range_end that selects every key starting with prefix (last byte + 1; "/" → "0").
std::string prefix_end(std::string prefix) {
    while (!prefix.empty()) {
        auto &last = prefix.back();
        if (static_cast<unsigned char>(last) < 0xFF) {
            ++last;
            return prefix;
        }
        prefix.pop_back();
    }
    return std::string(1, '\0');
}

milliseconds fence_margin(milliseconds ttl) {
    return std::clamp(milliseconds(ttl.count() / 5), milliseconds(200), milliseconds(2000));
}

bool iequals(const std::string &a, const std::string &b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string local_host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0) return "localhost";
    return name;
}

struct Endpoint {
    std::string scheme;
    std::string host;
    std::uint16_t port = 0;
    std::string text; // as logged: userinfo and query values redacted
};

Endpoint parse_endpoint(const std::string &given) {
    std::string url = given.find("://") == std::string::npos ? "http://" + given : given;
    const std::string text = redact_url(given);
    Poco::URI uri;
    try {
        uri = Poco::URI(url);
    } catch (const Poco::Exception &e) {
        throw std::invalid_argument("election endpoint '" + text + "': " + e.displayText());
    }
    if (uri.getScheme() != "http" && uri.getScheme() != "https")
        throw std::invalid_argument("election endpoint '" + text +
                                    "': only http:// and https:// are supported (etcd's client URL)");
    if (uri.getScheme() == "https" && !upstream_https_supported())
        throw std::invalid_argument("election endpoint '" + text + "': https needs a build with Poco NetSSL");
    if (uri.getHost().empty()) throw std::invalid_argument("election endpoint '" + text + "': no host");
    if (!uri.getPath().empty() && uri.getPath() != "/")
        throw std::invalid_argument("election endpoint '" + text + "': unexpected path");
    if (!uri.getUserInfo().empty())
        throw std::invalid_argument("election endpoint '" + text +
                                    "': put etcd credentials in [election] username/password, not in the URL");
    return Endpoint{uri.getScheme(), uri.getHost(), uri.getPort(), text};
}

Poco::Timespan to_timespan(milliseconds ms) { return Poco::Timespan(std::max<std::int64_t>(ms.count(), 1) * 1000); }

} // namespace

void validate(const EtcdElectionOptions &options) {
    if (options.endpoints.empty()) throw std::invalid_argument("election backend etcd needs at least one endpoint");
    for (const auto &endpoint : options.endpoints) parse_endpoint(endpoint);
    if (options.name_space.empty()) throw std::invalid_argument("election namespace must not be empty");
    if (options.lease_ttl < std::chrono::seconds(1))
        throw std::invalid_argument("election lease_ttl must be at least 1s");
    if (options.username.empty() && !options.password.empty())
        throw std::invalid_argument("election password given without a username");
}

// HTTP/1.1 client for the gateway: unary calls on one kept-alive session, watches on
// their own session so that stop() can cut them short.
class EtcdElection::Gateway {
  public:
    explicit Gateway(const EtcdElectionOptions &options) : username_(options.username), password_(options.password) {
        bool https = false;
        for (const auto &e : options.endpoints) {
            endpoints_.push_back(parse_endpoint(e));
            https |= endpoints_.back().scheme == "https";
        }
        if (https) tls_ = make_upstream_tls_context(options.tls);
    }

    const std::string &current_endpoint() const { return endpoints_[current_].text; }

    // Unary call with the auth token when a user is configured; an expired or unknown
    // token (etcd restarted, simple tokens time out) is replaced once and the call retried.
    json call(const std::string &path, const json &body, milliseconds timeout) {
        if (username_.empty()) return call_once(path, body, timeout);
        if (token_.empty()) authenticate(timeout);
        try {
            return call_once(path, body, timeout);
        } catch (const EtcdRejected &e) {
            if (e.code != kGrpcUnauthenticated) throw;
            token_.clear();
            authenticate(timeout);
            return call_once(path, body, timeout);
        }
    }

    // Unary call. Streams that close after one message (lease keep-alive) answer
    // {"result":{...}}; the result is unwrapped.
    json call_once(const std::string &path, const json &body, milliseconds timeout) {
        const std::string endpoint = endpoints_[current_].text;
        std::string text;
        int status = 0;
        try {
            if (!session_) session_ = open_session(timeout);
            session_->setTimeout(to_timespan(timeout));
            if (session_->connected()) {
                session_->socket().setReceiveTimeout(to_timespan(timeout));
                session_->socket().setSendTimeout(to_timespan(timeout));
            }
            const std::string payload = body.dump();
            Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, path, Poco::Net::HTTPMessage::HTTP_1_1);
            request.setContentType("application/json");
            request.setContentLength(static_cast<std::streamsize>(payload.size()));
            request.setKeepAlive(true);
            if (!token_.empty()) request.set("Authorization", token_);
            session_->sendRequest(request) << payload;
            Poco::Net::HTTPResponse response;
            std::istream &in = session_->receiveResponse(response);
            in.exceptions(std::ios::badbit);
            Poco::StreamCopier::copyToString(in, text);
            status = response.getStatus();
        } catch (const Poco::Exception &e) {
            fail_over();
            throw EtcdUnavailable(endpoint + ": " + e.displayText());
        } catch (const std::ios::failure &e) {
            fail_over();
            throw EtcdUnavailable(endpoint + ": " + e.what());
        }
        json parsed;
        try {
            // One message, or for streams the first line.
            parsed = json::parse(text.substr(0, text.find('\n')));
        } catch (const json::exception &) {
            fail_over();
            // Its first line says why (etcd's gateway refuses, in plain text, a client
            // certificate with a CN when auth is on).
            std::string said = text.substr(0, std::min(text.find('\n'), std::size_t(200)));
            throw EtcdUnavailable("etcd at " + endpoint + " answered " + std::to_string(status) + " with non-JSON" +
                                  (said.empty() ? std::string() : ": " + said));
        }
        if (status != 200) throw_error(parsed, status, endpoint);
        if (auto it = parsed.find("result"); it != parsed.end()) return *it;
        if (auto it = parsed.find("error"); it != parsed.end() && it->is_object()) throw_error(*it, status, endpoint);
        return parsed;
    }

    enum class WatchOutcome { Deleted, TimedOut, Failed, Aborted };

    // Watches create_request until a DELETE event arrives or `until` passes.
    WatchOutcome watch_for_delete(const json &create_request, Clock::time_point until,
                                  const std::atomic<bool> &stopping, std::string &error) {
        std::unique_ptr<Poco::Net::HTTPClientSession> session;
        try {
            auto remaining = std::chrono::duration_cast<milliseconds>(until - Clock::now());
            if (remaining <= milliseconds(0)) return WatchOutcome::TimedOut;
            session = open_session(remaining);
            {
                std::lock_guard lock(watch_mutex_);
                if (stopping.load()) return WatchOutcome::Aborted;
                watch_session_ = session.get();
            }
            struct Detach {
                Gateway *gateway;
                ~Detach() {
                    std::lock_guard lock(gateway->watch_mutex_);
                    gateway->watch_session_ = nullptr;
                }
            } detach{this};

            const std::string payload = json{{"create_request", create_request}}.dump();
            Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/v3/watch",
                                           Poco::Net::HTTPMessage::HTTP_1_1);
            request.setContentType("application/json");
            request.setContentLength(static_cast<std::streamsize>(payload.size()));
            if (!username_.empty() && token_.empty()) authenticate(remaining);
            if (!token_.empty()) request.set("Authorization", token_);
            session->sendRequest(request) << payload;
            if (stopping.load()) return WatchOutcome::Aborted;
            Poco::Net::HTTPResponse response;
            std::istream &in = session->receiveResponse(response);
            if (response.getStatus() != 200) {
                error = "watch answered HTTP " + std::to_string(response.getStatus());
                return WatchOutcome::Failed;
            }
            in.exceptions(std::ios::badbit);
            std::string line;
            while (true) {
                remaining = std::chrono::duration_cast<milliseconds>(until - Clock::now());
                if (remaining <= milliseconds(0)) return WatchOutcome::TimedOut;
                session->socket().setReceiveTimeout(to_timespan(remaining));
                if (!std::getline(in, line)) {
                    if (stopping.load()) return WatchOutcome::Aborted;
                    error = "watch stream ended";
                    return WatchOutcome::Failed;
                }
                if (line.empty()) continue;
                json message = json::parse(line, nullptr, false);
                if (message.is_discarded()) {
                    error = "watch sent non-JSON";
                    return WatchOutcome::Failed;
                }
                if (auto it = message.find("error"); it != message.end()) {
                    error = "watch error: " + it->dump();
                    return WatchOutcome::Failed;
                }
                const json &result = message.contains("result") ? message["result"] : message;
                if (result.value("canceled", false)) {
                    error = "watch canceled: " + result.value("cancel_reason", std::string());
                    return WatchOutcome::Failed;
                }
                if (auto events = result.find("events"); events != result.end() && events->is_array())
                    for (const auto &event : *events)
                        if (event.value("type", std::string()) == "DELETE") return WatchOutcome::Deleted;
            }
        } catch (const Poco::TimeoutException &) {
            return WatchOutcome::TimedOut;
        } catch (const Poco::Exception &e) {
            if (stopping.load()) return WatchOutcome::Aborted;
            error = e.displayText();
            return WatchOutcome::Failed;
        } catch (const std::exception &e) {
            if (stopping.load()) return WatchOutcome::Aborted;
            error = e.what();
            return WatchOutcome::Failed;
        }
    }

    // Unblocks a watch in progress (called from stop()).
    void abort_watch() {
        std::lock_guard lock(watch_mutex_);
        if (!watch_session_) return;
        try {
            watch_session_->socket().shutdown();
        } catch (const Poco::Exception &) {
            // Already closed: the reader is returning anyway.
        }
    }

  private:
    // The token etcd gives for user/password; the password goes in the request body only.
    void authenticate(milliseconds timeout) {
        json answer;
        try {
            answer = call_once("/v3/auth/authenticate", json{{"name", username_}, {"password", password_}}, timeout);
        } catch (const EtcdRejected &e) {
            throw EtcdRejected(e.code, std::string("authenticating as user '") + username_ + "': " + e.what());
        }
        std::string token = answer.value("token", std::string());
        if (token.empty())
            throw EtcdUnavailable("etcd at " + current_endpoint() + " gave no token for user '" + username_ +
                                  "' (is auth enabled?)");
        token_ = std::move(token);
    }

    std::unique_ptr<Poco::Net::HTTPClientSession> open_session(milliseconds timeout) {
        const auto &endpoint = endpoints_[current_];
        auto session = open_upstream_session(endpoint.scheme, endpoint.host, endpoint.port, tls_);
        session->setTimeout(to_timespan(timeout));
        session->setKeepAlive(true);
        return session;
    }

    void fail_over() {
        session_.reset();
        current_ = (current_ + 1) % endpoints_.size();
    }

    // A member without quorum ("etcdserver: no leader") or one that timed out says nothing
    // about our lease: try the next endpoint. Other errors are answers.
    [[noreturn]] void throw_error(const json &error, int status, const std::string &endpoint) {
        int code = error.is_object() ? static_cast<int>(int_field(error, "code")) : 0;
        if (code == 0 && error.is_object()) code = static_cast<int>(int_field(error, "grpc_code"));
        std::string message = error.is_object() ? error.value("message", std::string()) : "";
        if (message.empty()) message = "HTTP " + std::to_string(status);
        if (code == kGrpcUnavailable || code == kGrpcDeadlineExceeded) {
            fail_over();
            throw EtcdUnavailable(endpoint + ": " + message);
        }
        throw EtcdRejected(code, "etcd: " + message);
    }

    std::vector<Endpoint> endpoints_;
    std::shared_ptr<UpstreamTlsContext> tls_;
    std::string username_, password_;
    std::string token_; // election thread only
    std::size_t current_ = 0;
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
    std::mutex watch_mutex_;
    Poco::Net::HTTPClientSession *watch_session_ = nullptr;
};

struct EtcdElection::Lease {
    std::int64_t id = 0;
    std::string key;                  // "<namespace>/<id hex>"
    std::int64_t create_revision = 0; // of our key; 0 until created
    milliseconds ttl{};               // as granted
    Clock::time_point fence;          // leadership ends here (t_send + TTL - margin)
    Clock::time_point next_keep_alive;
};

EtcdElection::EtcdElection(EtcdElectionOptions options) : options_(std::move(options)) {
    validate(options_);
    while (options_.name_space.size() > 1 && options_.name_space.back() == '/') options_.name_space.pop_back();
    if (options_.host_name.empty()) options_.host_name = local_host_name();
    if (options_.node_id.empty()) options_.node_id = options_.host_name + ":" + std::to_string(getpid());
    eligible_ = options_.whitelist.empty() ||
                std::any_of(options_.whitelist.begin(), options_.whitelist.end(),
                            [&](const std::string &allowed) { return iequals(allowed, options_.host_name); });
    retry_interval_ = std::clamp(milliseconds(options_.lease_ttl.count() / 10), milliseconds(100), milliseconds(500));
    gateway_ = std::make_unique<Gateway>(options_);
}

EtcdElection::~EtcdElection() { stop(); }

void EtcdElection::start(std::function<void(bool)> on_change) {
    if (thread_.joinable()) return;
    on_change_ = std::move(on_change);
    stopping_ = false;
    set_role(eligible_ ? "candidate" : "observer");
    thread_ = std::thread([this] { run(); });
}

void EtcdElection::stop() {
    {
        std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    gateway_->abort_watch();
    if (thread_.joinable()) thread_.join();
}

bool EtcdElection::is_leader() const {
    if (!leading_.load()) return false;
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    return now_ns < fence_ns_.load();
}

std::string EtcdElection::role() const {
    std::lock_guard lock(state_mutex_);
    // The fence may have passed while the thread is still blocked in a request.
    if (role_ == "leader" && !is_leader()) return "candidate";
    return role_;
}

std::string EtcdElection::leader_node() const {
    std::lock_guard lock(state_mutex_);
    return leader_node_;
}

void EtcdElection::log(const char *level, const std::string &message) const {
    if (options_.log) options_.log(level, "election[etcd " + options_.name_space + "]: " + message);
}

void EtcdElection::set_role(const char *role) {
    std::lock_guard lock(state_mutex_);
    role_ = role;
}

void EtcdElection::set_leader(bool leading) {
    if (leading) {
        fence_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(lease_->fence.time_since_epoch()).count());
        {
            std::lock_guard lock(state_mutex_);
            role_ = "leader";
            leader_node_ = options_.node_id;
        }
    }
    leading_.store(leading);
    if (leading == notified_leading_) return;
    notified_leading_ = leading;
    if (leading) {
        ++terms_won_;
        log("info", "this host (" + options_.node_id + ") is now the leader, key " + lease_->key);
    } else {
        log("info", "this host (" + options_.node_id + ") is no longer the leader");
        std::lock_guard lock(state_mutex_);
        if (leader_node_ == options_.node_id) leader_node_.clear();
    }
    if (!on_change_) return;
    try {
        on_change_(leading);
    } catch (const std::exception &e) {
        log("error", std::string("leadership callback threw: ") + e.what());
    }
}

void EtcdElection::sleep_until(Clock::time_point until) {
    std::unique_lock lock(wake_mutex_);
    wake_.wait_until(lock, until, [this] { return stopping_.load(); });
}

milliseconds EtcdElection::request_timeout() const {
    milliseconds limit = options_.lease_ttl / 3;
    if (lease_ && leading_.load()) {
        // A leader must get control back before its fence to step down on time.
        const auto to_fence = std::chrono::duration_cast<milliseconds>(lease_->fence - Clock::now());
        limit = std::min(limit, to_fence);
    }
    return std::max(limit, milliseconds(100));
}

void EtcdElection::run() {
    if (!eligible_) {
        log("info", "host '" + options_.host_name + "' is not on the whitelist: not campaigning");
        run_observer();
        set_role("stopped");
        return;
    }
    log("info", "campaigning as " + options_.node_id + " via " + gateway_->current_endpoint());
    while (!stopping_.load()) {
        try {
            campaign_step();
        } catch (const EtcdRejected &e) {
            log("warn", e.what());
            if (lease_ && e.code == kGrpcNotFound) {
                set_leader(false);
                drop_lease(false);
            }
            sleep_until(Clock::now() + retry_interval_);
        } catch (const std::exception &e) {
            note_etcd_failure(e.what());
            if (!is_leader()) set_role("candidate");
            sleep_until(Clock::now() + retry_interval_);
        }
        // A leader whose fence passed steps down even if etcd never answered.
        if (notified_leading_ && !is_leader()) {
            set_leader(false);
            set_role("candidate");
        }
    }
    // Step down first so our pull jobs stop before another host's start, then release the
    // key (revoking the lease deletes it) so a follower takes over at once.
    set_leader(false);
    if (lease_) drop_lease(true);
    set_role("stopped");
}

void EtcdElection::note_etcd_failure(const std::string &what) {
    if (etcd_failing_) {
        log("debug", what);
        return;
    }
    etcd_failing_ = true;
    log("warn", "cannot reach etcd (" + what +
                    "); retrying. A leader steps down when its lease "
                    "can no longer be renewed in time");
}

void EtcdElection::note_etcd_answered() {
    if (!etcd_failing_) return;
    etcd_failing_ = false;
    log("info", "etcd answers again via " + gateway_->current_endpoint());
}

void EtcdElection::run_observer() {
    while (!stopping_.load()) {
        try {
            observe_leader();
            note_etcd_answered();
        } catch (const std::exception &e) {
            note_etcd_failure(e.what());
        }
        sleep_until(Clock::now() + options_.lease_ttl / 3);
    }
}

void EtcdElection::campaign_step() {
    if (!ensure_lease()) return;
    keep_alive_if_due();
    if (!lease_) return;
    if (stopping_.load()) return;
    auto now = Clock::now();
    if (now >= lease_->fence) {
        // Renewals failing: not leader, keep trying the same lease (an etcd restart keeps it).
        set_leader(false);
        set_role("candidate");
        sleep_until(std::min(lease_->next_keep_alive, now + retry_interval_));
        return;
    }
    if (!ensure_key()) return;

    const std::string prefix = options_.name_space + "/";
    json predecessor_query = {
        {"key", base64_encode(prefix)},
        {"range_end", base64_encode(prefix_end(prefix))},
        {"sort_order", "DESCEND"},
        {"sort_target", "CREATE"},
        {"limit", 1},
        {"max_create_revision", std::to_string(lease_->create_revision - 1)},
    };
    const json predecessors = gateway_->call("/v3/kv/range", predecessor_query, request_timeout());
    note_etcd_answered();
    if (const json *predecessor = first_kv(predecessors)) {
        set_leader(false);
        set_role("follower");
        observe_leader();
        wait_for_delete(base64_decode(predecessor->value("key", std::string())), header_revision(predecessors));
        return;
    }
    // Nobody before us. Make sure our key is really there (an operator may have deleted it).
    const json mine = gateway_->call("/v3/kv/range", {{"key", base64_encode(lease_->key)}}, request_timeout());
    const json *kv = first_kv(mine);
    if (!kv || int_field(*kv, "create_revision") != lease_->create_revision) {
        log("warn", "candidate key " + lease_->key + " vanished; creating it again");
        set_leader(false);
        lease_->create_revision = 0;
        return;
    }
    now = Clock::now();
    if (now < lease_->fence) set_leader(true);
    sleep_until(std::min(lease_->next_keep_alive, lease_->fence));
}

bool EtcdElection::ensure_lease() {
    if (lease_) return true;
    const auto ttl_seconds = (options_.lease_ttl.count() + 999) / 1000;
    const auto t_send = Clock::now();
    const json granted =
        gateway_->call("/v3/lease/grant", {{"TTL", ttl_seconds}}, std::max(options_.lease_ttl / 3, milliseconds(100)));
    const auto id = int_field(granted, "ID");
    const auto ttl = int_field(granted, "TTL");
    if (id == 0 || ttl <= 0) throw EtcdUnavailable("lease grant answered without ID/TTL");
    auto lease = std::make_unique<Lease>();
    lease->id = id;
    lease->key = lease_key(options_.name_space, id);
    lease->ttl = std::chrono::seconds(ttl);
    lease->fence = t_send + lease->ttl - fence_margin(lease->ttl);
    lease->next_keep_alive = t_send + lease->ttl / 3;
    lease_ = std::move(lease);
    log("debug", "granted lease " + std::to_string(id) + " (TTL " + std::to_string(ttl) + "s)");
    return true;
}

bool EtcdElection::ensure_key() {
    if (lease_->create_revision != 0) return true;
    const std::string key = base64_encode(lease_->key);
    const json txn = {
        {"compare", json::array({{{"key", key}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}}})},
        {"success",
         json::array(
             {{{"request_put",
                {{"key", key}, {"value", base64_encode(options_.node_id)}, {"lease", std::to_string(lease_->id)}}}}})},
        {"failure", json::array({{{"request_range", {{"key", key}}}}})},
    };
    const json answer = gateway_->call("/v3/kv/txn", txn, request_timeout());
    if (answer.value("succeeded", false)) {
        lease_->create_revision = header_revision(answer);
    } else {
        const json *kv = nullptr;
        if (auto responses = answer.find("responses");
            responses != answer.end() && responses->is_array() && !responses->empty())
            if (auto range = (*responses)[0].find("response_range"); range != (*responses)[0].end())
                kv = first_kv(*range);
        if (!kv) throw EtcdUnavailable("create-if-absent txn failed without the existing key");
        lease_->create_revision = int_field(*kv, "create_revision");
    }
    if (lease_->create_revision <= 0) throw EtcdUnavailable("txn answered without a revision");
    log("debug", "candidate key " + lease_->key + " at revision " + std::to_string(lease_->create_revision));
    return true;
}

void EtcdElection::keep_alive_if_due() {
    const auto t_send = Clock::now();
    if (t_send < lease_->next_keep_alive) return;
    json answer;
    try {
        answer = gateway_->call("/v3/lease/keepalive", {{"ID", std::to_string(lease_->id)}}, request_timeout());
    } catch (const EtcdUnavailable &e) {
        lease_->next_keep_alive = Clock::now() + retry_interval_;
        note_etcd_failure(std::string("keep-alive: ") + e.what());
        return;
    }
    note_etcd_answered();
    const auto ttl = int_field(answer, "TTL");
    if (ttl <= 0) {
        log("info", "lease " + std::to_string(lease_->id) + " expired; joining again");
        set_leader(false);
        drop_lease(false);
        return;
    }
    lease_->ttl = std::chrono::seconds(ttl);
    lease_->fence = t_send + lease_->ttl - fence_margin(lease_->ttl);
    lease_->next_keep_alive = t_send + lease_->ttl / 3;
    if (leading_.load())
        fence_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(lease_->fence.time_since_epoch()).count());
}

void EtcdElection::drop_lease(bool revoke) {
    if (revoke) {
        try {
            gateway_->call("/v3/lease/revoke", {{"ID", std::to_string(lease_->id)}},
                           std::max(options_.lease_ttl / 3, milliseconds(100)));
            log("info", "resigned: revoked lease " + std::to_string(lease_->id));
        } catch (const std::exception &e) {
            log("warn", std::string("could not revoke the lease (it expires by itself): ") + e.what());
        }
    }
    lease_.reset();
    fence_ns_.store(0);
}

void EtcdElection::observe_leader() {
    const std::string prefix = options_.name_space + "/";
    const json first = gateway_->call("/v3/kv/range",
                                      {{"key", base64_encode(prefix)},
                                       {"range_end", base64_encode(prefix_end(prefix))},
                                       {"sort_order", "ASCEND"},
                                       {"sort_target", "CREATE"},
                                       {"limit", 1}},
                                      request_timeout());
    const json *kv = first_kv(first);
    std::string leader = kv ? base64_decode(kv->value("value", std::string())) : std::string();
    std::lock_guard lock(state_mutex_);
    leader_node_ = std::move(leader);
}

void EtcdElection::wait_for_delete(const std::string &key, std::int64_t from_revision) {
    const json create_request = {
        {"key", base64_encode(key)},
        {"start_revision", std::to_string(from_revision)},
        {"filters", json::array({"NOPUT"})},
    };
    std::string error;
    const auto outcome = gateway_->watch_for_delete(create_request, lease_->next_keep_alive, stopping_, error);
    if (outcome == Gateway::WatchOutcome::Failed) {
        log("debug", "watching " + key + ": " + error);
        sleep_until(std::min(lease_->next_keep_alive, Clock::now() + retry_interval_));
    }
}

} // namespace trib::core
