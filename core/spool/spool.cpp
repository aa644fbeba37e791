#include "spool.hpp"

#include "tributary/crc32c.hpp"
#include "tributary/record_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace fs = std::filesystem;

namespace trib::core {
namespace {

using record_file::crc32c;
using record_file::get_le32;
using record_file::pread_exact;
using record_file::put_le32;
// The spool's on-disk record checksum; segments written by earlier versions use the same.
constexpr auto kRecordChecksum = record_file::Checksum::crc32c_of_length_and_payload;
static_assert(Spool::kHeaderBytes == record_file::kHeaderBytes);

constexpr char kAckMagic[8] = {'T', 'R', 'S', 'P', 'A', 'C', 'K', '1'};
constexpr const char *kSegmentSuffix = ".seg";

std::string errno_text(int e) { return std::string(std::strerror(e)); }

void put_le64(char *p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
uint64_t get_le64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<uint8_t>(p[i])) << (8 * i);
    return v;
}

bool write_full(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t r = ::write(fd, buf, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        buf += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

void fsync_dir(const fs::path &dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

std::optional<uint64_t> parse_segment_name(const fs::path &p) {
    std::string name = p.filename().string();
    if (name.size() != 20 + 4 || name.compare(20, 4, kSegmentSuffix) != 0) return std::nullopt;
    uint64_t v = 0;
    for (size_t i = 0; i < 20; ++i) {
        if (name[i] < '0' || name[i] > '9') return std::nullopt;
        v = v * 10 + uint64_t(name[i] - '0');
    }
    return v;
}

// Validates the record at `off` of a buffer holding [0, end) of a segment.
// Returns the record length (header included) or 0 if no valid record starts there.
uint64_t valid_record_at(const char *buf, uint64_t off, uint64_t end, uint32_t max_record) {
    if (end - off < Spool::kHeaderBytes) return 0;
    const record_file::Header header = record_file::decode_header(buf + off);
    if (header.length > max_record || header.length > end - off - Spool::kHeaderBytes) return 0;
    if (!record_file::verify(kRecordChecksum, header, {buf + off + Spool::kHeaderBytes, header.length})) return 0;
    return Spool::kHeaderBytes + header.length;
}

} // namespace

std::optional<SpoolFullPolicy> parse_spool_full_policy(std::string_view s) {
    if (s == "reject" || s == "block" || s == "backpressure") return SpoolFullPolicy::reject;
    if (s == "drop_oldest" || s == "drop") return SpoolFullPolicy::drop_oldest;
    return std::nullopt;
}

const char *to_string(SpoolFullPolicy p) { return p == SpoolFullPolicy::reject ? "reject" : "drop_oldest"; }

Spool::Spool(SpoolOptions options) : opt_(std::move(options)) {
    if (opt_.dir.empty()) throw SpoolError("spool: no directory configured");
    if (opt_.capacity_bytes < 4096)
        throw SpoolError("spool " + opt_.dir.string() + ": capacity must be at least 4 KiB");
    if (opt_.segment_bytes == 0)
        opt_.segment_bytes = std::clamp<uint64_t>(opt_.capacity_bytes / 8, 64u << 10, 32u << 20);
    opt_.segment_bytes = std::min(opt_.segment_bytes, opt_.capacity_bytes);
    if (opt_.max_record_bytes == 0) opt_.max_record_bytes = 64u << 20;

    std::error_code ec;
    fs::create_directories(opt_.dir / "quarantine", ec);
    if (ec) throw SpoolError("spool " + opt_.dir.string() + ": cannot create directory: " + ec.message());

    fs::path lock_path = opt_.dir / "LOCK";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) throw SpoolError("spool " + opt_.dir.string() + ": cannot open LOCK: " + errno_text(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ::close(lock_fd_);
        lock_fd_ = -1;
        throw SpoolError("spool " + opt_.dir.string() +
                         (e == EWOULDBLOCK ? ": in use by another process" : ": cannot lock: " + errno_text(e)));
    }
    try {
        recover();
    } catch (...) {
        if (write_fd_ >= 0) ::close(write_fd_);
        if (ack_fd_ >= 0) ::close(ack_fd_);
        ::close(lock_fd_);
        throw;
    }
    last_sync_ = std::chrono::steady_clock::now();
    if (opt_.fsync_interval_ms > 0) fsync_thread_ = std::thread([this] { fsync_thread_main(); });
}

Spool::~Spool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
        closed_ = true;
    }
    fsync_cv_.notify_all();
    readable_.notify_all();
    if (fsync_thread_.joinable()) fsync_thread_.join();
    std::lock_guard<std::mutex> lk(mu_);
    if (write_fd_ >= 0) {
        ::fdatasync(write_fd_);
        ::close(write_fd_);
    }
    close_reader_locked();
    persist_ack_locked();
    if (!orphaned_.empty())
        log(TRIB_LOG_WARN, std::to_string(orphaned_.size()) +
                               " record(s) handed out before their segment was dropped were not delivered");
    if (ack_fd_ >= 0) ::close(ack_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_); // releases the flock
}

void Spool::log(trib_log_level lvl, const std::string &msg) const {
    if (opt_.log) opt_.log(lvl, "spool " + opt_.dir.string() + ": " + msg);
}

fs::path Spool::segment_path(uint64_t seq) const {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu%s", static_cast<unsigned long long>(seq), kSegmentSuffix);
    return opt_.dir / name;
}

void Spool::recover() {
    std::error_code ec;
    if (opt_.clear_on_open) {
        for (auto &e : fs::directory_iterator(opt_.dir, ec))
            if (parse_segment_name(e.path())) fs::remove(e.path(), ec);
        fs::remove(opt_.dir / "ack.pos", ec);
        log(TRIB_LOG_INFO, "cleared on start");
    }
    for (auto &e : fs::directory_iterator(opt_.dir, ec)) {
        auto seq = parse_segment_name(e.path());
        if (!seq) continue;
        Segment s;
        s.path = e.path();
        s.size = fs::file_size(e.path(), ec);
        if (ec)
            throw SpoolError("spool " + opt_.dir.string() + ": cannot stat " + e.path().string() + ": " + ec.message());
        segments_[*seq] = s;
    }
    if (ec) throw SpoolError("spool " + opt_.dir.string() + ": cannot list directory: " + ec.message());

    // The persisted position: everything before it was acknowledged.
    bool have_pos = false;
    {
        int fd = ::open((opt_.dir / "ack.pos").c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[28];
            if (pread_exact(fd, buf, sizeof buf, 0) && std::memcmp(buf, kAckMagic, 8) == 0 &&
                crc32c(buf, 24) == get_le32(buf + 24)) {
                commit_seq_ = get_le64(buf + 8);
                commit_off_ = get_le64(buf + 16);
                have_pos = true;
            } else {
                log(TRIB_LOG_WARN, "ack.pos is damaged; delivering from the oldest segment (records may repeat)");
            }
            ::close(fd);
        }
    }
    // Segments wholly before the position were acknowledged; a crash may have left them.
    if (have_pos) {
        for (auto it = segments_.begin(); it != segments_.end() && it->first < commit_seq_;) {
            fs::remove(it->second.path, ec);
            it = segments_.erase(it);
        }
        auto it = segments_.find(commit_seq_);
        if (it == segments_.end()) {
            commit_seq_ = segments_.empty() ? commit_seq_ : segments_.begin()->first;
            commit_off_ = 0;
        }
    } else {
        commit_seq_ = segments_.empty() ? 1 : segments_.begin()->first;
        commit_off_ = 0;
    }

    // A crash mid-append can leave a torn record at the end of the newest segment.
    if (!segments_.empty()) {
        auto last = std::prev(segments_.end());
        uint64_t valid = scan_tail(last->first, last->second);
        if (valid < last->second.size) {
            uint64_t cut = last->second.size - valid;
            if (::truncate(last->second.path.c_str(), static_cast<off_t>(valid)) != 0)
                throw SpoolError("spool " + opt_.dir.string() + ": cannot truncate torn tail of " +
                                 last->second.path.string() + ": " + errno_text(errno));
            stats_.torn_tail_bytes += cut;
            log(TRIB_LOG_WARN, "cut a torn record of " + std::to_string(cut) + " bytes from " +
                                   last->second.path.filename().string() + " (written, never acknowledged)");
            last->second.size = valid;
        }
    }
    for (auto &[seq, s] : segments_) disk_bytes_ += s.size;
    if (!segments_.empty() && commit_seq_ == segments_.begin()->first && commit_off_ > segments_.begin()->second.size)
        commit_off_ = segments_.begin()->second.size;

    // Appends go to a fresh segment (or an empty last one): sealed segments are never
    // written again, which keeps recovery to one scan of the newest file.
    if (!segments_.empty() && std::prev(segments_.end())->second.size == 0) {
        open_writer_locked(std::prev(segments_.end())->first, false);
    } else {
        uint64_t seq = segments_.empty() ? std::max<uint64_t>(commit_seq_, 1) : std::prev(segments_.end())->first + 1;
        open_writer_locked(seq, true);
    }
    if (commit_seq_ < segments_.begin()->first) {
        commit_seq_ = segments_.begin()->first;
        commit_off_ = 0;
    }
    read_seq_ = commit_seq_;
    read_off_ = commit_off_;
    persist_ack_locked();

    uint64_t pending = disk_bytes_ - commit_off_;
    if (pending > 0)
        log(TRIB_LOG_INFO, "recovered " + std::to_string(segments_.size()) + " segment(s), " + std::to_string(pending) +
                               " bytes to deliver");
}

uint64_t Spool::scan_tail(uint64_t seq, Segment &seg) {
    (void)seq;
    if (seg.size == 0) return 0;
    int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw SpoolError("spool " + opt_.dir.string() + ": cannot open " + seg.path.string() + ": " +
                         errno_text(errno));
    std::string buf(seg.size, '\0');
    bool ok = pread_exact(fd, buf.data(), buf.size(), 0);
    ::close(fd);
    if (!ok) throw SpoolError("spool " + opt_.dir.string() + ": cannot read " + seg.path.string());
    uint64_t pos = 0, end = seg.size;
    while (pos < end) {
        uint64_t n = valid_record_at(buf.data(), pos, end, opt_.max_record_bytes);
        if (n) {
            pos += n;
            continue;
        }
        // Damage in the middle (a valid record follows) is left for the reader to quarantine;
        // damage with nothing valid after it is a record the crash tore: cut it.
        uint64_t next = pos + 1;
        while (next < end && !valid_record_at(buf.data(), next, end, opt_.max_record_bytes)) ++next;
        if (next >= end) return pos;
        pos = next;
    }
    return end;
}

void Spool::open_writer_locked(uint64_t seq, bool create) {
    fs::path p = segment_path(seq);
    int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
    int fd = ::open(p.c_str(), flags, 0644);
    if (fd < 0)
        throw SpoolError("spool " + opt_.dir.string() + ": cannot open segment " + p.string() + ": " +
                         errno_text(errno));
    if (create) {
        fsync_dir(opt_.dir);
        segments_[seq] = Segment{p, 0};
    }
    if (::lseek(fd, static_cast<off_t>(segments_[seq].size), SEEK_SET) < 0) {
        ::close(fd);
        throw SpoolError("spool " + opt_.dir.string() + ": cannot seek " + p.string() + ": " + errno_text(errno));
    }
    write_fd_ = fd;
    write_seq_ = seq;
}

void Spool::rotate_locked() {
    // Seal: make every record in the old segment durable before moving on, so one fsync of
    // the new segment's fd covers everything appended so far.
    if (write_fd_ >= 0) {
        ::fdatasync(write_fd_);
        ++stats_.fsyncs;
        ::close(write_fd_);
        write_fd_ = -1;
    }
    open_writer_locked(write_seq_ + 1, true);
}

uint64_t Spool::count_records_locked(uint64_t seq, uint64_t from, uint64_t to) {
    auto it = segments_.find(seq);
    if (it == segments_.end() || from >= to) return 0;
    int fd = ::open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    uint64_t n = 0, pos = from;
    char hdr[kHeaderBytes];
    while (pos < to) {
        ++n;
        if (to - pos < kHeaderBytes || !pread_exact(fd, hdr, kHeaderBytes, pos)) break;
        const uint32_t len = record_file::decode_header(hdr).length;
        if (len > opt_.max_record_bytes || len > to - pos - kHeaderBytes) break;
        pos += kHeaderBytes + len;
    }
    ::close(fd);
    return n;
}

void Spool::delete_segment_locked(uint64_t seq) {
    auto it = segments_.find(seq);
    if (it == segments_.end()) return;
    if (reader_fd_ >= 0 && reader_fd_seq_ == seq) close_reader_locked();
    std::error_code ec;
    fs::remove(it->second.path, ec);
    if (ec) log(TRIB_LOG_WARN, "cannot delete " + it->second.path.string() + ": " + ec.message());
    disk_bytes_ -= it->second.size;
    segments_.erase(it);
}

bool Spool::drop_oldest_locked(uint64_t need) {
    while (disk_bytes_ + need > opt_.capacity_bytes) {
        if (segments_.empty()) return false;
        uint64_t seq = segments_.begin()->first;
        if (seq == write_seq_) {
            if (segments_.begin()->second.size == 0) return false;
            rotate_locked();
        }
        const Segment &seg = segments_.begin()->second;
        uint64_t from = seq == commit_seq_ ? commit_off_ : 0;
        uint64_t lost = count_records_locked(seq, from, seg.size);
        uint64_t lost_bytes = seg.size - from;
        // Records already acknowledged out of order are not lost; records handed out and
        // not yet acknowledged are still with the consumer (orphaned, see ack/set_aside).
        for (auto it = in_flight_.begin(); it != in_flight_.end();) {
            if (it->first.segment != seq) {
                ++it;
                continue;
            }
            if (lost) --lost;
            if (!it->second) orphaned_.insert(it->first);
            it = in_flight_.erase(it);
        }
        delete_segment_locked(seq);
        stats_.dropped_records += lost;
        stats_.dropped_bytes += lost_bytes;
        uint64_t next_seq = segments_.empty() ? write_seq_ : segments_.begin()->first;
        if (commit_seq_ <= seq) {
            commit_seq_ = next_seq;
            commit_off_ = 0;
        }
        if (read_seq_ <= seq) {
            read_seq_ = next_seq;
            read_off_ = 0;
        }
        log(TRIB_LOG_WARN, "full (capacity " + std::to_string(opt_.capacity_bytes) +
                               " bytes, policy drop_oldest): dropped " + std::to_string(lost) +
                               " undelivered record(s), " + std::to_string(lost_bytes) + " bytes");
        advance_commit_locked();
    }
    return true;
}

trib_status Spool::append(std::string_view payload, std::string *err) {
    const uint64_t rec = kHeaderBytes + payload.size();
    if (payload.size() > opt_.max_record_bytes || rec > opt_.capacity_bytes) {
        if (err)
            *err = "record of " + std::to_string(payload.size()) + " bytes exceeds the spool's limit (" +
                   std::to_string(std::min<uint64_t>(opt_.max_record_bytes, opt_.capacity_bytes - kHeaderBytes)) +
                   " bytes)";
        return TRIB_INVALID_ARGUMENT;
    }
    uint64_t ticket = 0;
    bool sync_now = false;
    {
        std::unique_lock<std::mutex> lk(mu_);
        if (write_fd_ < 0) {
            if (err) *err = "spool is not writable";
            return TRIB_RETRY;
        }
        Segment *seg = &segments_[write_seq_];
        try {
            if (seg->size > 0 && seg->size + rec > opt_.segment_bytes) {
                rotate_locked();
                seg = &segments_[write_seq_];
            }
            if (disk_bytes_ + rec > opt_.capacity_bytes) {
                if (opt_.policy == SpoolFullPolicy::reject) {
                    ++stats_.rejected_appends;
                    if (err)
                        *err = "spool full (" + std::to_string(disk_bytes_) + " of " +
                               std::to_string(opt_.capacity_bytes) + " bytes)";
                    return TRIB_BACKPRESSURE;
                }
                if (!drop_oldest_locked(rec)) {
                    if (err) *err = "spool full and nothing left to drop";
                    return TRIB_BACKPRESSURE;
                }
                seg = &segments_[write_seq_];
            }
        } catch (const SpoolError &e) {
            if (err) *err = e.what();
            return TRIB_RETRY;
        }
        char hdr[kHeaderBytes];
        record_file::encode_header(kRecordChecksum, payload, hdr);
        iovec iov[2] = {{hdr, kHeaderBytes}, {const_cast<char *>(payload.data()), payload.size()}};
        // One writev per record: a kill -9 leaves either the whole record or a torn tail
        // that recovery cuts; never a half record in the middle of the file.
        size_t done = 0;
        bool ok = true;
        while (done < rec) {
            ssize_t w;
            if (done < kHeaderBytes) {
                iovec part[2] = {{hdr + done, kHeaderBytes - done}, iov[1]};
                w = ::writev(write_fd_, part, 2);
            } else {
                w = ::write(write_fd_, payload.data() + (done - kHeaderBytes), rec - done);
            }
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                ok = false;
                break;
            }
            done += static_cast<size_t>(w);
        }
        if (!ok) {
            int e = errno;
            // Take the partial record back so the segment stays a clean sequence of records.
            if (::ftruncate(write_fd_, static_cast<off_t>(seg->size)) != 0 ||
                ::lseek(write_fd_, static_cast<off_t>(seg->size), SEEK_SET) < 0) {
                ::close(write_fd_);
                write_fd_ = -1;
            }
            if (err) *err = "write to " + seg->path.string() + " failed: " + errno_text(e);
            log(TRIB_LOG_ERROR, "append failed: " + errno_text(e));
            return TRIB_RETRY;
        }
        seg->size += rec;
        disk_bytes_ += rec;
        ticket = ++ticket_;
        stats_.appended_records++;
        stats_.appended_bytes += payload.size();
        unsynced_bytes_ += rec;
        if (opt_.fsync_interval_ms == 0 && opt_.fsync_bytes == 0) sync_now = true;
        else if (opt_.fsync_bytes > 0 && unsynced_bytes_ >= opt_.fsync_bytes) {
            sync_now = true;
            unsynced_bytes_ = 0;
        }
    }
    readable_.notify_all();
    if (sync_now) sync_upto(ticket);
    return TRIB_OK;
}

void Spool::sync_upto(uint64_t ticket) {
    std::lock_guard<std::mutex> sl(sync_mu_);
    if (synced_ticket_ >= ticket) return; // another appender's fsync already covered us
    uint64_t target;
    int fd;
    {
        std::lock_guard<std::mutex> lk(mu_);
        target = ticket_;
        // A dup keeps the file open even if a rotation closes write_fd_ meanwhile.
        fd = write_fd_ >= 0 ? ::dup(write_fd_) : -1;
        ++stats_.fsyncs;
        last_sync_ = std::chrono::steady_clock::now();
    }
    if (fd >= 0) {
        ::fdatasync(fd);
        ::close(fd);
    }
    synced_ticket_ = target;
}

void Spool::sync() {
    uint64_t t;
    {
        std::lock_guard<std::mutex> lk(mu_);
        t = ticket_;
        unsynced_bytes_ = 0;
    }
    sync_upto(t);
}

void Spool::fsync_thread_main() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
        fsync_cv_.wait_for(lk, std::chrono::milliseconds(opt_.fsync_interval_ms));
        if (stopping_) break;
        if (unsynced_bytes_ == 0) continue;
        uint64_t t = ticket_;
        unsynced_bytes_ = 0;
        lk.unlock();
        sync_upto(t);
        lk.lock();
    }
}

int Spool::reader_fd_locked(uint64_t seq) {
    if (reader_fd_ >= 0 && reader_fd_seq_ == seq) return reader_fd_;
    close_reader_locked();
    auto it = segments_.find(seq);
    if (it == segments_.end()) return -1;
    reader_fd_ = ::open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC);
    reader_fd_seq_ = seq;
    return reader_fd_;
}

void Spool::close_reader_locked() {
    if (reader_fd_ >= 0) ::close(reader_fd_);
    reader_fd_ = -1;
}

void Spool::quarantine_locked(uint64_t seq, uint64_t from, uint64_t to, const std::string &why) {
    uint64_t n = to - from;
    stats_.quarantined_records++;
    stats_.quarantined_bytes += n;
    log(TRIB_LOG_ERROR, "quarantined " + std::to_string(n) + " damaged bytes at " +
                            segment_path(seq).filename().string() + ":" + std::to_string(from) + " (" + why +
                            "); delivery continues with the next valid record");
    uint64_t keep = std::min<uint64_t>(n, opt_.quarantine_keep_bytes);
    auto it = segments_.find(seq);
    if (keep == 0 || it == segments_.end()) return;
    int in = ::open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    std::string bytes(keep, '\0');
    if (pread_exact(in, bytes.data(), keep, from))
        keep_in_quarantine_locked(segment_path(seq).stem().string() + "-" + std::to_string(from) + ".bad", bytes);
    ::close(in);
}

void Spool::keep_in_quarantine_locked(const std::string &file_name, std::string_view bytes) {
    if (bytes.size() > opt_.quarantine_keep_bytes) bytes = bytes.substr(0, opt_.quarantine_keep_bytes);
    if (bytes.empty()) return;
    // Oldest files go first so quarantine/ stays within quarantine_keep_bytes.
    std::error_code ec;
    fs::path qdir = opt_.dir / "quarantine";
    std::vector<std::pair<fs::file_time_type, std::pair<fs::path, uint64_t>>> existing;
    uint64_t total = 0;
    for (auto &e : fs::directory_iterator(qdir, ec)) {
        uint64_t sz = e.file_size(ec);
        existing.push_back({e.last_write_time(ec), {e.path(), sz}});
        total += sz;
    }
    std::sort(existing.begin(), existing.end());
    for (auto &[t, f] : existing) {
        if (total + bytes.size() <= opt_.quarantine_keep_bytes) break;
        fs::remove(f.first, ec);
        total -= f.second;
    }
    fs::path out = qdir / file_name;
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    write_full(fd, bytes.data(), bytes.size());
    ::close(fd);
}

void Spool::set_aside(const SpoolRecord &record, const std::string &why) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = in_flight_.find(record.id);
    if (it == in_flight_.end()) {
        if (orphaned_.erase(record.id)) {
            ++stats_.dropped_records;
            stats_.dropped_bytes += record.payload.size() + kHeaderBytes;
        }
        return;
    }
    if (it->second) return;
    ++stats_.set_aside_records;
    std::string name =
        "refused-" + segment_path(record.id.segment).stem().string() + "-" + std::to_string(record.id.offset) + ".rec";
    log(TRIB_LOG_ERROR, "record refused for good (" + why + "): kept as quarantine/" + name);
    keep_in_quarantine_locked(name, record.payload);
    it->second = true;
    advance_commit_locked();
}

uint64_t Spool::resync_locked(uint64_t seq, uint64_t from, uint64_t end) {
    auto it = segments_.find(seq);
    if (it == segments_.end() || from >= end) return end;
    int fd = ::open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return end;
    // Damage is rare: reading the rest of the (bounded) segment once is acceptable.
    std::string buf(end - from, '\0');
    bool ok = pread_exact(fd, buf.data(), buf.size(), from);
    ::close(fd);
    if (!ok) return end;
    for (uint64_t p = 0; p < buf.size(); ++p)
        if (valid_record_at(buf.data(), p, buf.size(), opt_.max_record_bytes)) return from + p;
    return end;
}

std::optional<SpoolRecord> Spool::read_one_locked() {
    for (;;) {
        auto it = segments_.find(read_seq_);
        if (it == segments_.end()) {
            it = segments_.lower_bound(read_seq_);
            if (it == segments_.end()) return std::nullopt;
            read_seq_ = it->first;
            read_off_ = 0;
        }
        const uint64_t end = it->second.size;
        if (read_off_ >= end) {
            if (read_seq_ == write_seq_) return std::nullopt; // caught up with the writer
            auto nx = std::next(it);
            if (nx == segments_.end()) return std::nullopt;
            read_seq_ = nx->first;
            read_off_ = 0;
            advance_commit_locked();
            continue;
        }
        if (end - read_off_ < kHeaderBytes) {
            quarantine_locked(read_seq_, read_off_, end, "truncated header");
            read_off_ = end;
            advance_commit_locked();
            continue;
        }
        int fd = reader_fd_locked(read_seq_);
        char hdr[kHeaderBytes];
        std::string why;
        if (fd < 0 || !pread_exact(fd, hdr, kHeaderBytes, read_off_)) {
            why = "unreadable";
        } else {
            const record_file::Header header = record_file::decode_header(hdr);
            const uint32_t len = header.length;
            if (len > opt_.max_record_bytes || len > end - read_off_ - kHeaderBytes) {
                why = "bad length " + std::to_string(len);
            } else {
                SpoolRecord rec;
                rec.payload.resize(len);
                if (!pread_exact(fd, rec.payload.data(), len, read_off_ + kHeaderBytes)) {
                    why = "unreadable";
                } else if (!record_file::verify(kRecordChecksum, header, rec.payload)) {
                    why = "checksum mismatch";
                } else {
                    rec.id = SpoolRecordId{read_seq_, read_off_, read_off_ + kHeaderBytes + len};
                    read_off_ = rec.id.end;
                    in_flight_.emplace(rec.id, false);
                    return rec;
                }
            }
        }
        uint64_t next = resync_locked(read_seq_, read_off_ + 1, end);
        quarantine_locked(read_seq_, read_off_, next, why);
        read_off_ = next;
        advance_commit_locked();
    }
}

std::optional<SpoolRecord> Spool::next(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lk(mu_);
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        if (closed_) return std::nullopt;
        if (auto rec = read_one_locked()) return rec;
        if (readable_.wait_until(lk, deadline) == std::cv_status::timeout) {
            if (closed_) return std::nullopt;
            return read_one_locked();
        }
    }
}

void Spool::ack(const SpoolRecordId &id) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) {
        if (orphaned_.erase(id)) ++stats_.acked_records; // delivered although its segment was dropped
        return;
    }
    if (it->second) return;
    it->second = true;
    ++stats_.acked_records;
    advance_commit_locked();
}

void Spool::rewind_unacked() {
    std::lock_guard<std::mutex> lk(mu_);
    advance_commit_locked();
    in_flight_.clear();
    if (!orphaned_.empty())
        log(TRIB_LOG_WARN, std::to_string(orphaned_.size()) +
                               " record(s) handed out before their segment was dropped were not delivered");
    stats_.dropped_records += orphaned_.size();
    orphaned_.clear();
    read_seq_ = commit_seq_;
    read_off_ = commit_off_;
}

void Spool::advance_commit_locked() {
    while (!in_flight_.empty() && in_flight_.begin()->second) in_flight_.erase(in_flight_.begin());
    uint64_t seq, off;
    if (in_flight_.empty()) {
        seq = read_seq_;
        off = read_off_;
    } else {
        seq = in_flight_.begin()->first.segment;
        off = in_flight_.begin()->first.offset;
    }
    if (seq == commit_seq_ && off == commit_off_) return;
    commit_seq_ = seq;
    commit_off_ = off;
    persist_ack_locked();
    while (!segments_.empty() && segments_.begin()->first < commit_seq_ && segments_.begin()->first != write_seq_)
        delete_segment_locked(segments_.begin()->first);
}

void Spool::persist_ack_locked() {
    // 28 bytes rewritten in place at offset 0: one small pwrite that a process kill cannot
    // tear, and the CRC catches a torn sector after a power cut (then delivery restarts at
    // the oldest segment: records repeat, none is lost). Not fsynced for the same reason.
    char buf[28];
    std::memcpy(buf, kAckMagic, 8);
    put_le64(buf + 8, commit_seq_);
    put_le64(buf + 16, commit_off_);
    put_le32(buf + 24, crc32c(buf, 24));
    if (ack_fd_ < 0) {
        ack_fd_ = ::open((opt_.dir / "ack.pos").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (ack_fd_ < 0) {
            log(TRIB_LOG_WARN, "cannot open ack.pos: " + errno_text(errno));
            return;
        }
    }
    if (::pwrite(ack_fd_, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf))
        log(TRIB_LOG_WARN, "cannot write ack.pos: " + errno_text(errno));
}

void Spool::close() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        closed_ = true;
    }
    readable_.notify_all();
}

SpoolStats Spool::stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    SpoolStats s = stats_;
    s.disk_bytes = disk_bytes_;
    s.segments = segments_.size();
    uint64_t before = 0;
    for (auto &[seq, seg] : segments_) {
        if (seq < commit_seq_) before += seg.size;
        else if (seq == commit_seq_) before += std::min(commit_off_, seg.size);
    }
    s.pending_bytes = disk_bytes_ - before;
    s.in_flight = in_flight_.size();
    return s;
}

} // namespace trib::core
