// Helpers for Tributary's tests: temp dirs, free ports, the real host binary as a child
// process, HTTP requests, reading the points the file sink wrote, other child processes
// (node, go, java, servers) and polling.
//
// Compile definitions TRIB_FIXTURES_DIR, TRIB_SOURCE_DIR, TRIB_BUILD_DIR and
// TRIB_TEST_DATA_DIR come with the `trib_test_support` target.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <variant>
#include <vector>

namespace trib::test {

using namespace std::chrono_literals;

// ------------------------------------------------------------------ files and dirs

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
  public:
    explicit TempDir(const std::string &prefix = "trib-test");
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return path_; }
    // path() + "/" + rel
    std::string sub(const std::string &rel) const { return path_ + "/" + rel; }

  private:
    std::string path_;
};

// Whole file as bytes; throws std::runtime_error naming the path when it cannot be read.
std::string read_file(const std::string &path);
// Writes (truncating) and creates missing parent directories; throws on failure.
void write_file(const std::string &path, std::string_view data);
bool file_exists(const std::string &path);
// Regular files below dir (recursive), as paths relative to dir, sorted.
std::vector<std::string> list_files(const std::string &dir);
// A process's peak resident set (VmHWM in /proc/<pid>/status) in kB; 0 when unreadable.
uint64_t peak_rss_kb(pid_t pid);
// A recorded client payload: read_file(TRIB_FIXTURES_DIR + "/" + rel).
std::string fixture(const std::string &rel);

// gzip of data at zlib `level`, and its inverse (concatenated members read as one), written
// against zlib here so tests check the tree's codecs rather than echo them. Throw
// std::runtime_error on failure.
std::string gzip_of(std::string_view data, int level = 6);
std::string gunzip(std::string_view data);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back).
int free_port();

// Calls pred every `poll` until it returns true (→ true) or `timeout` passes (→ false).
bool wait_until(std::function<bool()> pred, std::chrono::milliseconds timeout, std::chrono::milliseconds poll = 100ms);

// ------------------------------------------------------------------ HTTP

struct HttpResult {
    int status = 0; // 0 = no HTTP answer (connection refused, timeout); body holds the reason
    std::string body;
    std::map<std::string, std::string> headers; // lower-cased names
    std::string header(const std::string &lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// One request on a fresh connection. url = "http://host:port/path?query". Never throws
// for network errors (status 0 instead).
HttpResult http(const std::string &method, const std::string &url, const std::string &body = "",
                const std::string &content_type = "", const std::map<std::string, std::string> &headers = {},
                int timeout_ms = 10000);

// ------------------------------------------------------------------ line protocol

using LpValue = std::variant<int64_t, uint64_t, double, bool, std::string>;

struct LpPoint {
    std::string measurement;
    std::map<std::string, std::string> tags;
    std::map<std::string, LpValue> fields;
    int64_t time_ns = 0;

    bool has_tag(const std::string &k) const { return tags.count(k) != 0; }
    // Tag value, empty when absent.
    std::string tag(const std::string &k) const;
    bool has_field(const std::string &k) const { return fields.count(k) != 0; }
    // Typed field accessors: throw std::runtime_error naming the key when the field is
    // missing or of another type.
    int64_t field_int(const std::string &k) const;
    uint64_t field_uint(const std::string &k) const;
    double field_float(const std::string &k) const;
    bool field_bool(const std::string &k) const;
    const std::string &field_str(const std::string &k) const;
    // Any numeric field as double (int, uint or float).
    double field_number(const std::string &k) const;
};

// Parses InfluxDB line protocol as lib/line_protocol writes it (escaped commas,
// spaces and equals signs in names, quoted strings with \" and \\, i/u suffixes,
// newlines inside string fields). Throws std::runtime_error with the line number on
// malformed input. A missing timestamp gives time_ns = 0.
std::vector<LpPoint> parse_line_protocol(std::string_view text);

// Points from <data_dir>/points/<category>/*.lp, file by file (sorted), optionally only
// those of one measurement. A missing directory gives no points.
std::vector<LpPoint> read_points(const std::string &data_dir, const std::string &category,
                                 const std::string &measurement = "");

// ------------------------------------------------------------------ child processes

struct ChildOptions {
    std::vector<std::string> argv;          // argv[0] is looked up in PATH unless it has a '/'
    std::map<std::string, std::string> env; // merged over the parent's env, or replacing it
    bool replace_env = false;               // true: env is the whole environment
    std::string cwd;                        // empty: the current directory
    std::string log_path;                   // stdout+stderr; empty: a file in a temp dir
};

// A process in its own process group. When it exits (seen by running()/wait()) or is
// destroyed, the rest of its group is SIGKILLed and it is reaped, so nothing a test
// starts outlives the test.
class ChildProcess {
  public:
    explicit ChildProcess(ChildOptions opts); // throws when the program cannot be found or started
    ChildProcess(const std::vector<std::string> &argv, const std::map<std::string, std::string> &env = {},
                 const std::string &cwd = "");
    ~ChildProcess();
    ChildProcess(const ChildProcess &) = delete;
    ChildProcess &operator=(const ChildProcess &) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    // Exit code (128 + signal when killed by a signal), or std::nullopt if still running
    // after timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    void signal(int sig);       // to the process only
    void signal_group(int sig); // to its whole process group
    // Sends sig, waits up to `grace`, then SIGKILLs the group; returns the exit status.
    int stop(int sig = SIGTERM, std::chrono::milliseconds grace = 20000ms);
    std::string log() const;
    const std::string &log_path() const { return log_path_; }

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::string log_path_;
    std::unique_ptr<TempDir> log_dir_;
};

// ------------------------------------------------------------------ the host binary

struct HostOptions {
    std::string config_text;                   // tributary.conf
    std::map<std::string, std::string> conf_d; // relative path under conf.d -> file text
    std::map<std::string, std::string> env;    // the host's env is PATH, HOME + these
    std::vector<std::string> extra_args;
    std::string plugins_dir = TRIB_BUILD_DIR "/plugins";
    std::string data_dir;   // empty = a temp dir owned by HostProcess
    bool wait_ready = true; // wait for GET /health → 200 ready
    std::chrono::milliseconds ready_timeout = 30000ms;
};

// TRIB_BUILD_DIR/bin/tributary run as
//   tributary --config <tmp>/tributary.conf --data-dir <d> --listen 127.0.0.1:<port>
//             --plugins-dir <p> <extra_args...>
// with stdout+stderr in <tmp>/host.log. Several may run at once.
class HostProcess {
  public:
    HostProcess() = default;
    explicit HostProcess(HostOptions opts) { start(std::move(opts)); }
    ~HostProcess();
    HostProcess(const HostProcess &) = delete;
    HostProcess &operator=(const HostProcess &) = delete;

    // Throws std::runtime_error with the host's log when it exits before being ready or
    // is not ready within ready_timeout.
    void start(HostOptions opts);
    // Stops (if running) and starts again with the same options, config dir, data dir
    // and port.
    void restart();
    // Sends sig and waits (SIGKILL after 30 s); returns the exit status (128+signal when
    // killed). Returns the earlier status when already stopped.
    int stop(int sig = SIGTERM);
    void kill9();
    bool running();

    int port() const { return port_; }
    std::string url(const std::string &path = "/") const;
    const std::string &data_dir() const { return data_dir_; }
    const std::string &config_dir() const { return config_dir_->path(); }
    std::string log() const;
    pid_t pid() const { return child_ ? child_->pid() : -1; }
    const HostOptions &options() const { return opts_; }

    // Convenience: points the host's file sink wrote.
    std::vector<LpPoint> points(const std::string &category, const std::string &measurement = "") const {
        return read_points(data_dir_, category, measurement);
    }

  private:
    void launch();
    HostOptions opts_;
    std::unique_ptr<TempDir> config_dir_;
    std::unique_ptr<TempDir> owned_data_dir_;
    std::string data_dir_;
    int port_ = 0;
    std::unique_ptr<ChildProcess> child_;
    std::optional<int> last_status_;
};

} // namespace trib::test
