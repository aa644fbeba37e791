// A durable on-disk queue ("spool") in front of a sink or behind an input.
//
// On disk, in one directory:
//   <seq:020>.seg   segment files of records [u32 length][u32 crc32c][payload]; the CRC-32C
//                   covers the 4 length bytes and the payload, so a damaged length is caught too.
//   ack.pos         the persisted read/ack position (segment, offset) + CRC, rewritten in place.
//   quarantine/     byte ranges that failed their checksum, kept for inspection.
//   LOCK            flock()ed while open: one process per spool.
//
// Durability: append() returns OK only once the record is written per the fsync policy:
// with fsync_interval_ms == 0 and fsync_bytes == 0 every append is fdatasync()ed before it
// returns (concurrent appenders share one fsync); otherwise the record is in the kernel's
// page cache (it survives kill -9 of the process) and is fsynced when fsync_bytes have
// accumulated or fsync_interval_ms has passed (bounding what a power loss can take).
//
// Delivery is at least once: next() hands records out in append order, ack() retires them;
// a segment is deleted once every record in it is acknowledged. Records handed out but not
// acknowledged before a crash or close are handed out again after reopening.
//
// Damage: a record whose length or checksum is wrong is quarantined (skipped, counted,
// logged, its bytes copied to quarantine/) and reading resumes at the next valid record of
// the segment; a torn record at the end of the last segment (a crash mid-write) is
// truncated at open. Full: `reject` makes append() answer TRIB_BACKPRESSURE; `drop_oldest`
// deletes the oldest segment and counts the records it held as dropped.
#pragma once

#include <tributary/plugin.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace trib::core {

enum class SpoolFullPolicy { reject, drop_oldest };

// Parses "reject" / "drop_oldest" (also DataKit-ish "block" → reject, "drop" → drop_oldest).
std::optional<SpoolFullPolicy> parse_spool_full_policy(std::string_view s);
const char *to_string(SpoolFullPolicy p);

struct SpoolOptions {
    std::filesystem::path dir;
    uint64_t capacity_bytes = 1ull << 30;
    SpoolFullPolicy policy = SpoolFullPolicy::reject;
    // 0 = derived from capacity: capacity/8, clamped to [64 KiB, 32 MiB].
    uint64_t segment_bytes = 0;
    uint32_t fsync_interval_ms = 0;
    uint64_t fsync_bytes = 0;
    uint32_t max_record_bytes = 64u << 20;
    // Deletes every segment and the ack position at open (DataKit's clear_cache_on_start).
    bool clear_on_open = false;
    // At most this many bytes are kept in quarantine/ (older files are removed first).
    uint64_t quarantine_keep_bytes = 64ull << 20;
    // Log sink for warnings (quarantine, drops, recovery). May be empty.
    std::function<void(trib_log_level, const std::string &)> log;
};

struct SpoolStats {
    uint64_t appended_records = 0;
    uint64_t appended_bytes = 0;
    uint64_t acked_records = 0;
    uint64_t rejected_appends = 0; // reject policy: append answered BACKPRESSURE
    uint64_t dropped_records = 0;  // drop_oldest policy: unacknowledged records deleted
    uint64_t dropped_bytes = 0;
    uint64_t quarantined_records = 0; // damaged regions skipped (each counts once)
    uint64_t quarantined_bytes = 0;
    uint64_t set_aside_records = 0; // refused for good by the consumer, kept in quarantine/
    uint64_t torn_tail_bytes = 0;   // incomplete record cut off the last segment at open
    uint64_t fsyncs = 0;
    uint64_t disk_bytes = 0;    // bytes of all segment files
    uint64_t pending_bytes = 0; // bytes not yet acknowledged (approximate: whole records)
    uint64_t segments = 0;
    uint64_t in_flight = 0; // handed out by next(), not yet acknowledged
};

struct SpoolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct SpoolRecordId {
    uint64_t segment = 0;
    uint64_t offset = 0; // offset of the record header in the segment
    uint64_t end = 0;    // offset just past the record
    bool operator<(const SpoolRecordId &o) const {
        return segment != o.segment ? segment < o.segment : offset < o.offset;
    }
    bool operator==(const SpoolRecordId &o) const { return segment == o.segment && offset == o.offset; }
};

struct SpoolRecord {
    SpoolRecordId id;
    std::string payload;
};

class Spool {
  public:
    // Opens (creating if needed) and recovers the spool in options.dir. Throws SpoolError
    // naming the path and the reason.
    explicit Spool(SpoolOptions options);
    ~Spool();
    Spool(const Spool &) = delete;
    Spool &operator=(const Spool &) = delete;

    static constexpr size_t kHeaderBytes = 8;

    // OK once durable per policy. BACKPRESSURE: full under `reject`. INVALID_ARGUMENT: the
    // record can never fit (larger than max_record_bytes or the capacity). RETRY: an I/O
    // error (disk full...), nothing was appended. err (optional) says why.
    trib_status append(std::string_view payload, std::string *err = nullptr);

    // The next record in order, waiting up to `wait` for one. nullopt on timeout or close().
    std::optional<SpoolRecord> next(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
    // Retires a record handed out by next(). Acks may come in any order; the persisted
    // position advances over the acknowledged prefix. Unknown ids (e.g. in a segment
    // already dropped) are ignored.
    void ack(const SpoolRecordId &id);
    // Makes every handed-out, unacknowledged record available to next() again.
    void rewind_unacked();
    // Retires a record that can never be delivered (the sink refused it for good): its
    // payload is copied to quarantine/ (within quarantine_keep_bytes), counted, and acked.
    void set_aside(const SpoolRecord &record, const std::string &why);

    // Forces an fsync of everything appended so far.
    void sync();
    // Wakes waiters in next() (which then return nullopt); appends still work until destroyed.
    void close();

    SpoolStats stats() const;
    const SpoolOptions &options() const { return opt_; }

  private:
    struct Segment {
        std::filesystem::path path;
        uint64_t size = 0; // bytes of complete records
    };

    void log(trib_log_level lvl, const std::string &msg) const;
    std::filesystem::path segment_path(uint64_t seq) const;
    void recover();
    uint64_t scan_tail(uint64_t seq, Segment &seg);
    void open_writer_locked(uint64_t seq, bool create);
    void rotate_locked();
    bool drop_oldest_locked(uint64_t need);
    uint64_t count_records_locked(uint64_t seq, uint64_t from, uint64_t to);
    void delete_segment_locked(uint64_t seq);
    void advance_commit_locked();
    void persist_ack_locked();
    int reader_fd_locked(uint64_t seq);
    void close_reader_locked();
    std::optional<SpoolRecord> read_one_locked();
    void quarantine_locked(uint64_t seq, uint64_t from, uint64_t to, const std::string &why);
    void keep_in_quarantine_locked(const std::string &file_name, std::string_view bytes);
    uint64_t resync_locked(uint64_t seq, uint64_t from, uint64_t end);
    void sync_upto(uint64_t ticket);
    void fsync_thread_main();

    SpoolOptions opt_;
    int lock_fd_ = -1;
    int ack_fd_ = -1;

    mutable std::mutex mu_;
    std::condition_variable readable_;
    std::map<uint64_t, Segment> segments_;
    uint64_t disk_bytes_ = 0;
    uint64_t write_seq_ = 0;
    int write_fd_ = -1;
    uint64_t ticket_ = 0; // bumped on every append
    uint64_t unsynced_bytes_ = 0;
    std::chrono::steady_clock::time_point last_sync_;

    // Reading.
    uint64_t read_seq_ = 0, read_off_ = 0;     // next record to hand out
    uint64_t commit_seq_ = 0, commit_off_ = 0; // everything before is acknowledged
    std::map<SpoolRecordId, bool> in_flight_;  // id -> acknowledged
    // Handed out, then their segment was dropped: the consumer still holds them and may yet
    // deliver them, so they count as dropped only if it gives them up.
    std::set<SpoolRecordId> orphaned_;
    int reader_fd_ = -1;
    uint64_t reader_fd_seq_ = 0;
    bool closed_ = false;

    // Group commit: one fsync at a time covers every append up to the ticket it captured.
    std::mutex sync_mu_;
    uint64_t synced_ticket_ = 0;

    std::thread fsync_thread_;
    std::condition_variable fsync_cv_;
    bool stopping_ = false;

    SpoolStats stats_;
};

} // namespace trib::core
