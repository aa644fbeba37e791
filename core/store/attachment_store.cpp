#include "attachment_store.hpp"

#include "host/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace trib::core {

std::string sanitize_path_component(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (unsigned char c : in) {
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) out.push_back('_');
        else out.push_back(static_cast<char>(c));
    }
    if (out.size() > 200) out.resize(200);
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

std::string attachment_dir_name(const trib::Point &p) {
    std::string id;
    if (auto *f = p.find_field("profile_id"); f && (f->type == TRIB_FIELD_STRING || f->type == TRIB_FIELD_BYTES))
        id = f->s;
    else if (auto *t = p.find_tag("profile_id")) id = *t;
    if (id.empty()) id = "no_profile_id-" + std::to_string(p.time_ns);
    return sanitize_path_component(id);
}

namespace {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(size_t(n));
    }
    return true;
}

// Writes a new file (O_EXCL when `fresh`: the directory was just made, nobody else can
// name it, so there is no need for a temporary and a rename).
bool write_new_file(const std::string &path, std::string_view data, bool sync, std::string &err) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = "cannot write " + path + ": " + std::strerror(errno);
        return false;
    }
    bool ok = write_all(fd, data) && (!sync || ::fdatasync(fd) == 0);
    int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok) {
        err = "short write to " + path + ": " + std::strerror(saved ? saved : errno);
        ::unlink(path.c_str());
    }
    return ok;
}

void sync_dir(const std::string &dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

uint64_t file_size_or_zero(const std::string &path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

} // namespace

bool write_file_atomically(const std::string &path, std::string_view data, bool sync, std::string &err) {
    static std::atomic<uint64_t> seq{0};
    std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
    if (!write_new_file(tmp, data, sync, err)) return false;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        err = "cannot rename to " + path + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

std::shared_ptr<const std::string> attachment_bytes(const trib::Attachment &a, std::string &err) {
    if (a.data) return a.data;
    if (a.stored_path.empty()) return std::make_shared<const std::string>();
    int fd = ::open(a.stored_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = "attachment " + a.stored_path + " is not in the store: " + std::strerror(errno);
        return nullptr;
    }
    std::string out;
    out.resize(a.stored_size);
    size_t got = 0;
    for (;;) {
        if (got == out.size()) out.resize(out.size() + 4096 + out.size() / 2);
        ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0) err = "cannot read " + a.stored_path + ": " + std::strerror(errno);
            break;
        }
        got += size_t(n);
    }
    ::close(fd);
    if (!err.empty()) return nullptr;
    out.resize(got);
    return std::make_shared<const std::string>(std::move(out));
}

AttachmentStore::AttachmentStore(AttachmentStoreConfig cfg) : cfg_(std::move(cfg)) {}

AttachmentStore::~AttachmentStore() { stop(); }

void AttachmentStore::start() {
    std::error_code ec;
    fs::create_directories(cfg_.root, ec);
    if (ec) throw std::runtime_error("cannot create the attachment store " + cfg_.root + ": " + ec.message());
    scan_existing();
    enforce_size(std::string());
    remove_expired();
    age_thread_ = std::thread([this] { age_loop(); });
}

void AttachmentStore::stop() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (age_thread_.joinable()) age_thread_.join();
}

void AttachmentStore::scan_existing() {
    std::error_code ec;
    int64_t now = now_ns();
    struct Found {
        int64_t first_seen;
        std::string dir;
        uint64_t bytes;
    };
    std::vector<Found> found;
    for (auto it = fs::directory_iterator(cfg_.root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        if (!it->is_directory(ec)) continue;
        std::string dir = it->path().filename().string();
        uint64_t bytes = 0;
        int64_t oldest = now;
        std::error_code e2;
        for (auto f = fs::directory_iterator(it->path(), e2); !e2 && f != fs::directory_iterator(); f.increment(e2)) {
            std::string name = f->path().filename().string();
            if (name.find(".tmp") != std::string::npos) {
                fs::remove(f->path(), e2); // a write cut short by a crash; no point names it
                continue;
            }
            struct stat st {};
            if (::stat(f->path().c_str(), &st) != 0) continue;
            bytes += uint64_t(st.st_size);
            int64_t m = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
            if (m < oldest) oldest = m;
        }
        found.push_back({oldest, std::move(dir), bytes});
    }
    std::sort(found.begin(), found.end(), [](const Found &a, const Found &b) { return a.first_seen < b.first_seen; });
    std::lock_guard<std::mutex> lk(mu_);
    for (auto &f : found) add_entry(f.dir, f.first_seen, f.bytes);
    stats_.bytes = total_;
    stats_.profiles = dirs_.size();
}

void AttachmentStore::add_entry(const std::string &dir, int64_t first_seen_ns, uint64_t bytes) {
    auto [it, added] = dirs_.try_emplace(dir);
    if (!added) return;
    it->second.bytes = bytes;
    it->second.seq = first_seq_ + by_age_.size();
    by_age_.push_back(Aged{first_seen_ns, &it->first});
    total_ += bytes;
}

void AttachmentStore::drop_entry(std::unordered_map<std::string, Entry>::iterator it) {
    total_ -= std::min(total_, it->second.bytes);
    by_age_[it->second.seq - first_seq_].dir = nullptr;
    dirs_.erase(it);
    while (!by_age_.empty() && !by_age_.front().dir) {
        by_age_.pop_front();
        ++first_seq_;
    }
}

void AttachmentStore::account(const std::string &dir, int64_t now, uint64_t added, uint64_t replaced) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = dirs_.find(dir);
    if (it == dirs_.end()) {
        add_entry(dir, now, 0);
        it = dirs_.find(dir);
    }
    it->second.bytes = it->second.bytes + added - std::min(replaced, it->second.bytes);
    total_ = total_ + added - std::min(replaced, total_);
    stats_.bytes = total_;
    stats_.profiles = dirs_.size();
}

bool AttachmentStore::store(std::vector<trib::Point> &points, bool sync, std::string &err,
                            std::vector<std::string> *created_dirs) {
    return store_borrowed(points, {}, sync, err, created_dirs);
}

bool AttachmentStore::store_borrowed(std::vector<trib::Point> &points,
                                     const std::vector<std::vector<std::string_view>> &borrowed, bool sync,
                                     std::string &err, std::vector<std::string> *created_dirs) {
    int64_t now = now_ns();
    // The bytes of attachment i of point j: its own, or borrowed; nullopt: nothing to write
    // (already a store reference).
    auto bytes_of = [&](size_t j, size_t i) -> std::optional<std::string_view> {
        const trib::Attachment &a = points[j].attachments[i];
        if (a.data) return std::string_view(*a.data);
        if (a.stored_path.empty() && j < borrowed.size() && i < borrowed[j].size()) return borrowed[j][i];
        return std::nullopt;
    };
    std::vector<std::string> written; // files this call made, undone on failure
    std::vector<std::string> touched_dirs;
    bool ok = true;
    for (size_t j = 0; j < points.size(); ++j) {
        trib::Point &p = points[j];
        bool has_bytes = false;
        for (size_t i = 0; i < p.attachments.size(); ++i) has_bytes = has_bytes || bytes_of(j, i);
        if (!has_bytes) continue;
        std::string dname = attachment_dir_name(p);
        std::string dir = cfg_.root + "/" + dname;
        bool fresh = ::mkdir(dir.c_str(), 0755) == 0;
        if (!fresh && errno != EEXIST) {
            err = "cannot create " + dir + ": " + std::strerror(errno);
            ok = false;
            break;
        }
        uint64_t added = 0, replaced = 0;
        std::vector<uint64_t> sizes(p.attachments.size(), UINT64_MAX); // UINT64_MAX: not written here
        for (size_t i = 0; i < p.attachments.size(); ++i) {
            auto bytes = bytes_of(j, i);
            if (!bytes) continue;
            const trib::Attachment &a = p.attachments[i];
            std::string path = dir + "/" + sanitize_path_component(a.name);
            bool done;
            if (fresh) {
                done = write_new_file(path, *bytes, sync, err);
                // Two parts of one upload with the same sanitised name: the later one wins,
                // as with a rename.
                if (!done && errno == EEXIST) {
                    err.clear();
                    replaced += file_size_or_zero(path);
                    done = write_file_atomically(path, *bytes, sync, err);
                }
            } else {
                replaced += file_size_or_zero(path);
                done = write_file_atomically(path, *bytes, sync, err);
            }
            if (!done) {
                ok = false;
                break;
            }
            written.push_back(path);
            sizes[i] = bytes->size();
            added += bytes->size();
            stats_.stored_files++;
            stats_.stored_bytes += bytes->size();
        }
        if (!ok) break;
        if (sync) sync_dir(dir);
        account(dname, now, added, replaced);
        touched_dirs.push_back(dname);
        if (fresh && created_dirs) created_dirs->push_back(dname);
        for (size_t i = 0; i < p.attachments.size(); ++i) {
            if (sizes[i] == UINT64_MAX) continue;
            trib::Attachment &a = p.attachments[i];
            a.stored_path = dir + "/" + sanitize_path_component(a.name);
            a.stored_size = sizes[i];
            a.data.reset();
        }
    }
    if (!ok) {
        stats_.write_errors++;
        for (auto &f : written) ::unlink(f.c_str());
        return false;
    }
    if (sync) sync_dir(cfg_.root);
    if (!touched_dirs.empty()) enforce_size(touched_dirs.back());
    return true;
}

void AttachmentStore::discard(const std::vector<std::string> &created_dirs) {
    if (created_dirs.empty()) return;
    std::lock_guard<std::mutex> rl(remove_mu_);
    {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto &d : created_dirs) {
            auto it = dirs_.find(d);
            if (it == dirs_.end()) continue;
            drop_entry(it);
        }
        stats_.bytes = total_;
        stats_.profiles = dirs_.size();
    }
    for (auto &d : created_dirs) {
        std::error_code ec;
        fs::remove_all(fs::path(cfg_.root) / d, ec);
    }
}

// Takes profile directories off the books, oldest first, while `more(total, first_seen_ns)`
// holds; `keep` is never taken. Returns them (name, bytes) for removal outside the lock.
std::vector<std::pair<std::string, uint64_t>>
AttachmentStore::take_oldest(const std::function<bool(uint64_t, int64_t)> &more, const std::string &keep) {
    std::vector<std::pair<std::string, uint64_t>> taken;
    std::lock_guard<std::mutex> lk(mu_);
    size_t i = 0;
    while (i < by_age_.size()) {
        const Aged aged = by_age_[i];
        if (!aged.dir) {
            ++i;
            continue;
        }
        if (!more(total_, aged.first_seen_ns)) break;
        if (*aged.dir == keep) {
            ++i;
            continue;
        }
        auto d = dirs_.find(*aged.dir);
        taken.emplace_back(*aged.dir, d->second.bytes);
        // Dropping may pop the front: the entry at i and empty slots after it, never a live
        // one, so the next live entry is at i + 1 less what was popped (or at the new front).
        size_t popped = by_age_.size();
        drop_entry(d);
        popped -= by_age_.size();
        i = i + 1 > popped ? i + 1 - popped : 0;
    }
    stats_.bytes = total_;
    stats_.profiles = dirs_.size();
    return taken;
}

void AttachmentStore::enforce_size(const std::string &keep) {
    std::lock_guard<std::mutex> rl(remove_mu_);
    // The upload in hand (keep) stays, even alone over the limit.
    remove_dirs(take_oldest([this](uint64_t total, int64_t) { return total > cfg_.max_size_bytes; }, keep), false);
}

void AttachmentStore::remove_expired() {
    std::lock_guard<std::mutex> rl(remove_mu_);
    int64_t cutoff = now_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.max_age).count();
    remove_dirs(take_oldest([cutoff](uint64_t, int64_t first_seen) { return first_seen < cutoff; }, std::string()),
                true);
}

void AttachmentStore::remove_dirs(const std::vector<std::pair<std::string, uint64_t>> &dirs, bool for_age) {
    for (auto &[name, bytes] : dirs) {
        std::error_code ec;
        fs::remove_all(fs::path(cfg_.root) / name, ec);
        if (ec) log_warn("attachments", "cannot remove " + (fs::path(cfg_.root) / name).string() + ": " + ec.message());
        (for_age ? stats_.removed_for_age : stats_.removed_for_size)++;
        stats_.removed_bytes += bytes;
    }
}

void AttachmentStore::age_loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
        cv_.wait_for(lk, cfg_.age_check_interval, [this] { return stopping_; });
        if (stopping_) break;
        lk.unlock();
        remove_expired();
        lk.lock();
    }
}

} // namespace trib::core
