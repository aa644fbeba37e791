// Connection settings shared by the nats sink and input (urls, credentials, TLS) and an
// owner of one nats.c connection with its JetStream context.
#pragma once

#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace trib::nats {

// Reads typed keys of a module's config table; every error names the key (the host adds
// the file). Unknown keys are refused so a misspelt option is not silently ignored.
class ConfigReader {
  public:
    ConfigReader(const std::string &json_text, std::vector<std::string> known_keys);
    std::string str(const std::string &key, const std::string &def) const;
    std::vector<std::string> str_list(const std::string &key, const std::vector<std::string> &def) const;
    int64_t integer(const std::string &key, int64_t def, int64_t min, int64_t max) const;
    bool boolean(const std::string &key, bool def) const;
    // "30s", "500ms", "2m", "1h", or a number of seconds.
    int64_t duration_ms(const std::string &key, int64_t def_ms) const;
    bool has(const std::string &key) const { return cfg_.contains(key); }

  private:
    nlohmann::json cfg_;
};

// The keys every nats instance reads.
std::vector<std::string> connection_keys();

struct ConnectionSettings {
    std::vector<std::string> urls;
    std::string user, password, token, credentials_file;
    bool tls = false;
    std::string tls_ca, tls_cert, tls_key, tls_hostname;
    bool tls_insecure_skip_verify = false;
    int64_t connect_timeout_ms = 5000;
    std::string name; // shown by the server (client name)

    static ConnectionSettings read(const ConfigReader &r);
};

// A connection that keeps reconnecting for ever (an outage is waited out, not fatal).
class Connection {
  public:
    explicit Connection(ConnectionSettings s) : settings_(std::move(s)) { jsOptions_Init(&jso_); }
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    // Connects (or reports why not in err); safe to call again after a failure.
    bool connect(std::string &err);
    bool connected() const;
    natsConnection *nc() const { return nc_; }
    jsCtx *js() const { return js_; }
    // The payload limit the server announced (bytes), 0 when not connected.
    int64_t max_payload() const;
    void close();

    // JetStream options used for the context; the sink sets its async ack handler here
    // before connect().
    jsOptions &js_options() { return jso_; }

  private:
    ConnectionSettings settings_;
    natsConnection *nc_ = nullptr;
    jsCtx *js_ = nullptr;
    jsOptions jso_{};
};

// "what: <nats status text>[: <last error>]"
std::string nats_error(const std::string &what, natsStatus s, jsErrCode jerr = jsErrCode(0));

} // namespace trib::nats
