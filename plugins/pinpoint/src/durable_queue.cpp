#include "durable_queue.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace trib::pinpoint {
namespace {

constexpr uint64_t kRewindAt = 64ull << 20; // start the file over once fully read past this size

void put_str(std::string &out, const std::string &s) {
    uint32_t n = uint32_t(s.size());
    out.append(reinterpret_cast<const char *>(&n), 4);
    out.append(s);
}

bool get_str(std::string_view &in, std::string &s) {
    if (in.size() < 4) return false;
    uint32_t n;
    std::memcpy(&n, in.data(), 4);
    in.remove_prefix(4);
    if (in.size() < n) return false;
    s.assign(in.data(), n);
    in.remove_prefix(n);
    return true;
}

} // namespace

DurableQueue::DurableQueue(std::string dir, uint64_t capacity_bytes, Handler handler, Collector::LogFn log,
                           Unfinished unfinished)
    : dir_(std::move(dir)), capacity_(capacity_bytes), handler_(std::move(handler)), log_(std::move(log)),
      unfinished_(std::move(unfinished)) {
    path_ = dir_ + "/queue.log";
    cursor_path_ = dir_ + "/queue.cursor";
}

DurableQueue::~DurableQueue() { stop(); }

uint64_t DurableQueue::load_cursor() const {
    std::ifstream f(cursor_path_);
    uint64_t v = 0;
    if (f >> v) return v;
    return 0;
}

void DurableQueue::save_cursor(uint64_t offset) {
    std::string tmp = cursor_path_ + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << offset << "\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, cursor_path_, ec);
}

uint64_t DurableQueue::replay_position() {
    uint64_t pos;
    {
        std::lock_guard<std::mutex> g(mu_);
        pos = read_offset_;
    }
    if (unfinished_)
        if (uint64_t oldest = unfinished_(); oldest != 0 && oldest - 1 < pos) pos = oldest - 1;
    return pos;
}

void DurableQueue::commit() { save_cursor(replay_position()); }

void DurableQueue::start() {
    std::filesystem::create_directories(dir_);
    uint64_t cursor = load_cursor();
    // Drop a torn tail so appends continue after the last good record.
    record_file::ReadResult r =
        record_file::read_records(path_, 0, record_file::Checksum::crc32_of_payload, [](std::string_view, uint64_t) {});
    if (r.corrupt_tail) {
        log_(TRIB_LOG_WARN,
             "pinpoint: storage queue " + path_ + " had a damaged tail; cut at byte " + std::to_string(r.valid_bytes));
        record_file::truncate_file(path_, r.valid_bytes);
    }
    if (cursor > r.valid_bytes) cursor = 0;
    {
        std::lock_guard<std::mutex> g(mu_);
        writer_.open(path_);
        read_offset_ = cursor;
        stopping_ = false;
    }
    if (cursor < r.valid_bytes)
        log_(TRIB_LOG_INFO,
             "pinpoint: replaying " + std::to_string(r.valid_bytes - cursor) + " queued bytes from " + path_);
    worker_ = std::thread([this] { run(); });
}

void DurableQueue::stop() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    std::lock_guard<std::mutex> g(mu_);
    if (writer_.is_open()) {
        writer_.sync();
        writer_.close();
    }
}

Outcome DurableQueue::push(MessageKind kind, std::string_view bytes, const CallHeaders &h) {
    std::string rec;
    rec.reserve(bytes.size() + h.agent_id.size() + h.application_name.size() + h.agent_name.size() + 32);
    rec.push_back(char(kind));
    put_str(rec, h.agent_id);
    put_str(rec, h.application_name);
    put_str(rec, h.agent_name);
    rec.append(reinterpret_cast<const char *>(&h.agent_start_time), 8);
    rec.append(bytes);
    {
        std::lock_guard<std::mutex> g(mu_);
        if (!writer_.is_open()) return Outcome::Exhausted("storage queue is not open");
        if (writer_.size() - read_offset_ + rec.size() > capacity_)
            return Outcome::Exhausted("storage queue is full (storage.capacity); retry later");
        if (!writer_.append(rec))
            return Outcome::Exhausted(std::string("storage queue write failed: ") + std::strerror(errno));
    }
    cv_.notify_all();
    return Outcome::Ok();
}

uint64_t DurableQueue::backlog_bytes() const {
    std::lock_guard<std::mutex> g(mu_);
    return writer_.size() - read_offset_;
}

bool DurableQueue::wait_drained(int timeout_ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
        if (backlog_bytes() == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return backlog_bytes() == 0;
}

void DurableQueue::run() {
    for (;;) {
        uint64_t offset, end;
        {
            std::unique_lock<std::mutex> g(mu_);
            cv_.wait_for(g, std::chrono::milliseconds(200), [&] { return stopping_ || writer_.size() > read_offset_; });
            if (stopping_) return;
            offset = read_offset_;
            end = writer_.size();
            if (offset >= end) continue;
            writer_.sync();
        }
        bool interrupted = false;
        uint64_t record_start = offset;
        record_file::read_records(
            path_, offset, record_file::Checksum::crc32_of_payload, [&](std::string_view rec, uint64_t next) {
                const uint64_t source = record_start + 1;
                record_start = next;
                if (interrupted || next > end) return;
                std::string_view in = rec;
                auto h = std::make_shared<CallHeaders>();
                if (in.empty()) return;
                auto kind = MessageKind(uint8_t(in[0]));
                in.remove_prefix(1);
                if (get_str(in, h->agent_id) && get_str(in, h->application_name) && get_str(in, h->agent_name) &&
                    in.size() >= 8) {
                    std::memcpy(&h->agent_start_time, in.data(), 8);
                    in.remove_prefix(8);
                    // Backpressure from the host: keep the record and try again shortly.
                    for (;;) {
                        Outcome o = handler_(kind, in, h, source);
                        if (o.code != Outcome::resource_exhausted || o.consumed) break;
                        std::unique_lock<std::mutex> g(mu_);
                        if (cv_.wait_for(g, std::chrono::milliseconds(200), [&] { return stopping_; })) {
                            interrupted = true;
                            return;
                        }
                    }
                }
                std::lock_guard<std::mutex> g(mu_);
                read_offset_ = next;
            });
        uint64_t done;
        const uint64_t oldest = unfinished_ ? unfinished_() : 0;
        {
            std::lock_guard<std::mutex> g(mu_);
            if (!interrupted && read_offset_ == offset) {
                // A record that fails its CRC inside the file: skip what was there.
                log_(TRIB_LOG_ERROR, "pinpoint: storage queue " + path_ + " has a damaged record at byte " +
                                         std::to_string(offset) + "; skipped " + std::to_string(end - offset) +
                                         " bytes");
                read_offset_ = end;
            }
            done = read_offset_;
            // Fully read, nothing downstream still needs it, and large: start the file over.
            if (done == writer_.size() && done >= kRewindAt && oldest == 0) {
                writer_.open(path_, true);
                read_offset_ = done = 0;
            }
        }
        if (oldest != 0 && oldest - 1 < done) done = oldest - 1;
        save_cursor(done);
        if (interrupted) return;
    }
}

} // namespace trib::pinpoint
