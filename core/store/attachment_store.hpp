// The host's attachment store: <data-dir>/attachments/<profile_id>/<name>, the layout the
// file sink has always written (a public contract). Attachments do not ride the bus: the
// thread that emits a point (an input's HTTP or gRPC worker) writes its bytes here first,
// then the point goes on with a reference (Attachment::stored_path) in place of the bytes.
// Sinks that need the bytes read them back with attachment_bytes(); the file sink has
// nothing left to write but the point's line.
//
// Retention: the total size is kept under max_size_bytes (checked by the thread that
// stores, so the store never exceeds it by more than the upload in hand) and profiles older
// than max_age are removed by a background pass; oldest first, whole profile directories.
// Points already written that name a removed profile are left as they are.
#pragma once

#include <tributary/plugin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace trib::core {

// A single safe file-name component: no '/', '\\', NUL or control characters, not "." or
// "..", at most 200 bytes; empty becomes "_".
std::string sanitize_path_component(std::string_view name);

// The directory name of a point's attachments: its profile_id field (or tag), else
// "no_profile_id-<time_ns>"; sanitised.
std::string attachment_dir_name(const trib::Point &p);

// Writes `data` to `path` through a temporary file and a rename (readers never see a part).
bool write_file_atomically(const std::string &path, std::string_view data, bool sync, std::string &err);

// The bytes of an attachment: in memory, or read from its stored file. Null with `err` set
// when the stored file is gone (removed by retention) or unreadable.
std::shared_ptr<const std::string> attachment_bytes(const trib::Attachment &a, std::string &err);

struct AttachmentStoreConfig {
    std::string root; // <data-dir>/attachments
    uint64_t max_size_bytes = 10ull << 30;
    std::chrono::seconds max_age{7 * 24 * 3600};
    std::chrono::milliseconds age_check_interval{10000};
};

struct AttachmentStoreStats {
    std::atomic<uint64_t> bytes{0};    // gauge: what the store holds
    std::atomic<uint64_t> profiles{0}; // gauge: profile directories
    std::atomic<uint64_t> stored_files{0};
    std::atomic<uint64_t> stored_bytes{0};
    std::atomic<uint64_t> write_errors{0};
    std::atomic<uint64_t> removed_for_size{0}; // profile directories
    std::atomic<uint64_t> removed_for_age{0};
    std::atomic<uint64_t> removed_bytes{0};
};

class AttachmentStore {
  public:
    explicit AttachmentStore(AttachmentStoreConfig cfg);
    ~AttachmentStore();
    AttachmentStore(const AttachmentStore &) = delete;
    AttachmentStore &operator=(const AttachmentStore &) = delete;

    // Creates the root, reads what an earlier run left (sizes and ages, for retention;
    // leftover temporary files are removed) and starts the age pass. Throws
    // std::runtime_error naming the directory when it cannot be created.
    void start();
    void stop();

    // Writes every attachment of every point that still holds its bytes, then replaces the
    // bytes by the reference. sync: fdatasync each file and its directory before returning
    // (the input's spool fsyncs every record). false with err when a write failed; nothing
    // of the batch is then left in the store by this call. created_dirs (optional) gets
    // the profile directories this call made.
    bool store(std::vector<trib::Point> &points, bool sync, std::string &err,
               std::vector<std::string> *created_dirs = nullptr);
    // The same for points whose attachments carry no bytes yet: attachment i of point j is
    // written from borrowed[j][i] (an emitting module's view, valid during the call), so
    // the bytes are never copied into the host's memory.
    bool store_borrowed(std::vector<trib::Point> &points, const std::vector<std::vector<std::string_view>> &borrowed,
                        bool sync, std::string &err, std::vector<std::string> *created_dirs = nullptr);
    // Removes directories store() made (their points were refused afterwards, so no point
    // will ever name them).
    void discard(const std::vector<std::string> &created_dirs);

    // One age pass now (the background thread runs it every age_check_interval).
    void remove_expired();

    const std::string &root() const { return cfg_.root; }
    const AttachmentStoreConfig &config() const { return cfg_; }
    const AttachmentStoreStats &stats() const { return stats_; }

  private:
    // The books hold every profile directory in the store (millions at the default size
    // limit), so an entry is small: its bytes and its place in `by_age_`; the name is kept
    // once, as the map's key (~130 bytes a profile, where a map and a multimap of names
    // kept ~270).
    struct Entry {
        uint64_t bytes = 0;
        uint64_t seq = 0; // position in by_age_ is seq - first_seq_
    };
    struct Aged {
        int64_t first_seen_ns;
        const std::string *dir; // the key in dirs_; null once taken off the books
    };
    void add_entry(const std::string &dir, int64_t first_seen_ns, uint64_t bytes);
    void drop_entry(std::unordered_map<std::string, Entry>::iterator it);
    void scan_existing();
    void account(const std::string &dir, int64_t now_ns, uint64_t added, uint64_t replaced);
    void enforce_size(const std::string &keep);
    std::vector<std::pair<std::string, uint64_t>> take_oldest(const std::function<bool(uint64_t, int64_t)> &more,
                                                              const std::string &keep);
    void remove_dirs(const std::vector<std::pair<std::string, uint64_t>> &dirs, bool for_age);
    void age_loop();

    AttachmentStoreConfig cfg_;
    AttachmentStoreStats stats_;
    std::mutex mu_;
    std::unordered_map<std::string, Entry> dirs_;
    // Oldest first (in the order they were first seen; a restart's scan sorts them).
    std::deque<Aged> by_age_;
    uint64_t first_seq_ = 0;
    uint64_t total_ = 0;
    std::mutex remove_mu_; // one remover at a time, so a directory is counted out once
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread age_thread_;
};

} // namespace trib::core
