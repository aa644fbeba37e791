// `[storage]`: received messages are appended to a file queue (length-prefixed, CRC-checked
// records) before the client is answered, and a worker thread feeds them to the collector.
// The replay position is saved beside the queue: the oldest record whose points were not
// all accepted by the host yet (a span waiting for its root, points refused under
// backpressure), so after a crash the queue replays from there. Replay is at-least-once:
// records after that position whose traces were already emitted are emitted again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collector.hpp"
#include "tributary/record_file.hpp"

namespace trib::pinpoint {

class DurableQueue {
  public:
    // The last argument is the record's source id (offset + 1) for Collector::handle.
    using Handler =
        std::function<Outcome(MessageKind, std::string_view, const std::shared_ptr<const CallHeaders> &, uint64_t)>;
    // The oldest source id still unfinished downstream (0 = none).
    using Unfinished = std::function<uint64_t()>;

    DurableQueue(std::string dir, uint64_t capacity_bytes, Handler handler, Collector::LogFn log,
                 Unfinished unfinished = nullptr);
    ~DurableQueue();

    // Opens the queue (creating `dir`) and starts the worker, which first replays what is left.
    void start();
    // Stops the worker after the record in hand; the rest stays queued.
    void stop();
    // Saves the replay position; call after stop() once downstream flushed what it held.
    void commit();

    // Appends one message. RESOURCE_EXHAUSTED when the queue holds `capacity` bytes.
    Outcome push(MessageKind kind, std::string_view bytes, const CallHeaders &headers);

    uint64_t backlog_bytes() const;
    // Blocks until everything queued so far was handed to the collector (tests).
    bool wait_drained(int timeout_ms);

  private:
    void run();
    void save_cursor(uint64_t offset);
    uint64_t replay_position();
    uint64_t load_cursor() const;

    std::string dir_, path_, cursor_path_;
    uint64_t capacity_;
    Handler handler_;
    Collector::LogFn log_;
    Unfinished unfinished_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    record_file::RecordWriter writer_{record_file::Checksum::crc32_of_payload};
    uint64_t read_offset_ = 0; // guarded by mu_
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace trib::pinpoint
