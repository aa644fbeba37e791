#include <trib_test/support.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char **environ;

namespace trib::test {

namespace {

std::string find_program(const std::string &name, const std::map<std::string, std::string> &env) {
    if (name.find('/') != std::string::npos) return name;
    std::string path;
    auto it = env.find("PATH");
    if (it != env.end()) path = it->second;
    else if (const char *p = std::getenv("PATH")) path = p;
    if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= path.size()) {
        size_t colon = path.find(':', start);
        if (colon == std::string::npos) colon = path.size();
        std::string dir = path.substr(start, colon - start);
        if (dir.empty()) dir = ".";
        std::string cand = dir + "/" + name;
        if (::access(cand.c_str(), X_OK) == 0) return cand;
        start = colon + 1;
    }
    throw std::runtime_error("program not found in PATH: " + name);
}

int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

} // namespace

ChildProcess::ChildProcess(const std::vector<std::string> &argv, const std::map<std::string, std::string> &env,
                           const std::string &cwd)
    : ChildProcess(ChildOptions{argv, env, false, cwd, ""}) {}

ChildProcess::ChildProcess(ChildOptions opts) {
    if (opts.argv.empty()) throw std::runtime_error("ChildProcess: empty argv");
    if (opts.log_path.empty()) {
        log_dir_ = std::make_unique<TempDir>("trib-child");
        opts.log_path = log_dir_->path() + "/output.log";
    }
    log_path_ = opts.log_path;

    // Everything the child needs is prepared before fork: after fork only
    // async-signal-safe calls run.
    std::map<std::string, std::string> env;
    if (!opts.replace_env)
        for (char **e = environ; e && *e; ++e) {
            std::string kv(*e);
            size_t eq = kv.find('=');
            if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
    for (auto &kv : opts.env) env[kv.first] = kv.second;
    std::string program = find_program(opts.argv[0], env);

    std::vector<std::string> env_strings;
    for (auto &kv : env) env_strings.push_back(kv.first + "=" + kv.second);
    std::vector<char *> envp, argvp;
    for (auto &s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto &s : opts.argv) argvp.push_back(s.data());
    argvp.push_back(nullptr);

    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot open log " + log_path_ + ": " + std::strerror(errno));
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    // A pipe that closes on exec tells the parent whether exec worked.
    int errpipe[2];
    if (::pipe2(errpipe, O_CLOEXEC) != 0) {
        ::close(log_fd);
        ::close(null_fd);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    const char *cwd = opts.cwd.empty() ? nullptr : opts.cwd.c_str();

    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        ::close(log_fd);
        ::close(null_fd);
        ::close(errpipe[0]);
        ::close(errpipe[1]);
        throw std::runtime_error(std::string("fork: ") + std::strerror(e));
    }
    if (pid == 0) {
        ::setpgid(0, 0);
        // Default signal dispositions and an empty mask for the new program.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        if (null_fd >= 0) ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        int err = 0;
        if (cwd && ::chdir(cwd) != 0) err = errno;
        if (!err) {
            ::execve(program.c_str(), argvp.data(), envp.data());
            err = errno;
        }
        ssize_t w = ::write(errpipe[1], &err, sizeof err);
        (void)w;
        ::_exit(127);
    }
    ::setpgid(pid, pid); // also from the parent, so the group exists before we signal it
    ::close(errpipe[1]);
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    int child_err = 0;
    ssize_t n;
    do {
        n = ::read(errpipe[0], &child_err, sizeof child_err);
    } while (n < 0 && errno == EINTR);
    ::close(errpipe[0]);
    pid_ = pid;
    if (n == static_cast<ssize_t>(sizeof child_err)) {
        int st = 0;
        ::waitpid(pid, &st, 0);
        status_ = decode_status(st);
        throw std::runtime_error("cannot start " + program + (cwd ? std::string(" in ") + cwd : std::string()) + ": " +
                                 std::strerror(child_err));
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !status_) {
        ::kill(-pid_, SIGKILL);
        int st = 0;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {}
    }
}

bool ChildProcess::running() {
    if (status_) return false;
    // Peek without reaping: while the leader is a zombie its process-group id cannot be
    // reused, so leftovers in the group can still be killed safely.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
    if (info.si_pid == 0) return true;
    ::kill(-pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {}
    status_ = decode_status(st);
    return false;
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (!running()) return status_;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
}

void ChildProcess::signal(int sig) {
    if (!status_ && pid_ > 0) ::kill(pid_, sig);
}

void ChildProcess::signal_group(int sig) {
    if (!status_ && pid_ > 0) ::kill(-pid_, sig);
}

int ChildProcess::stop(int sig, std::chrono::milliseconds grace) {
    if (status_) return *status_;
    signal(sig);
    if (auto st = wait(grace)) return *st;
    signal_group(SIGKILL);
    auto st = wait(10000ms);
    return st ? *st : -1;
}

std::string ChildProcess::log() const {
    try {
        return read_file(log_path_);
    } catch (...) {
        return std::string();
    }
}

// ------------------------------------------------------------------ HostProcess

HostProcess::~HostProcess() {
    if (child_) {
        try {
            stop(SIGTERM);
        } catch (...) {}
    }
}

void HostProcess::start(HostOptions opts) {
    if (child_ && child_->running()) throw std::runtime_error("HostProcess::start: already running");
    opts_ = std::move(opts);
    config_dir_ = std::make_unique<TempDir>("trib-host");
    write_file(config_dir_->path() + "/tributary.conf", opts_.config_text);
    ::mkdir((config_dir_->path() + "/conf.d").c_str(), 0755);
    for (auto &kv : opts_.conf_d) write_file(config_dir_->path() + "/conf.d/" + kv.first, kv.second);
    if (opts_.data_dir.empty()) {
        owned_data_dir_ = std::make_unique<TempDir>("trib-data");
        data_dir_ = owned_data_dir_->path();
    } else {
        data_dir_ = opts_.data_dir;
    }
    port_ = free_port();
    launch();
}

void HostProcess::launch() {
    ChildOptions co;
    co.argv = {TRIB_BUILD_DIR "/bin/tributary",
               "--config",
               config_dir_->path() + "/tributary.conf",
               "--data-dir",
               data_dir_,
               "--listen",
               "127.0.0.1:" + std::to_string(port_),
               "--plugins-dir",
               opts_.plugins_dir};
    for (auto &a : opts_.extra_args) co.argv.push_back(a);
    co.replace_env = true;
    const char *path = std::getenv("PATH");
    const char *home = std::getenv("HOME");
    co.env["PATH"] = path ? path : "/usr/local/bin:/usr/bin:/bin";
    co.env["HOME"] = home ? home : config_dir_->path();
    for (auto &kv : opts_.env) co.env[kv.first] = kv.second;
    co.log_path = config_dir_->path() + "/host.log";
    child_.reset();
    last_status_.reset();
    child_ = std::make_unique<ChildProcess>(std::move(co));
    if (!opts_.wait_ready) return;

    std::string health = url("/health");
    bool exited = false;
    bool ready = wait_until(
        [&] {
            if (!child_->running()) {
                exited = true;
                return true;
            }
            HttpResult r = http("GET", health, "", "", {}, 2000);
            return r.status == 200 && r.body.find("\"ready\":true") != std::string::npos;
        },
        opts_.ready_timeout, 50ms);
    if (exited) {
        last_status_ = child_->wait(0ms);
        throw std::runtime_error("tributary exited with status " + std::to_string(last_status_.value_or(-1)) +
                                 " before it was ready; log:\n" + log());
    }
    if (!ready) throw std::runtime_error("tributary not ready within timeout; log:\n" + log());
}

void HostProcess::restart() {
    if (!config_dir_) throw std::runtime_error("HostProcess::restart before start");
    if (child_) stop(SIGTERM);
    launch();
}

int HostProcess::stop(int sig) {
    if (!child_) return last_status_.value_or(-1);
    if (!child_->running()) {
        last_status_ = child_->wait(0ms);
        return last_status_.value_or(-1);
    }
    last_status_ = child_->stop(sig, 30000ms);
    return *last_status_;
}

void HostProcess::kill9() { stop(SIGKILL); }

bool HostProcess::running() { return child_ && child_->running(); }

std::string HostProcess::url(const std::string &path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + (path.empty() || path[0] != '/' ? "/" : "") + path;
}

std::string HostProcess::log() const {
    if (!config_dir_) return std::string();
    try {
        return read_file(config_dir_->path() + "/host.log");
    } catch (...) {
        return std::string();
    }
}

} // namespace trib::test
