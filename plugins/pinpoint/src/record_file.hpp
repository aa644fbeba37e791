// Length-prefixed, CRC-checked records in an append-only file: [u32 len][u32 crc32][bytes].
// Shared by the metadata log and the durable message queue. A torn or corrupt tail is
// detected on read and cut off, so a crash mid-write loses at most the record being written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace trib::pinpoint {

uint32_t crc32_of(std::string_view data);

// Appends to `path` (created if missing). Not thread-safe: callers serialize.
class RecordWriter {
  public:
    RecordWriter() = default;
    ~RecordWriter();
    RecordWriter(const RecordWriter &) = delete;
    RecordWriter &operator=(const RecordWriter &) = delete;

    // Throws std::runtime_error with the path and errno text.
    void open(const std::string &path, bool truncate = false);
    void close();
    bool is_open() const { return fd_ >= 0; }
    // Returns false (errno kept) when the write failed.
    bool append(std::string_view payload);
    bool sync();
    uint64_t size() const { return size_; }

  private:
    int fd_ = -1;
    uint64_t size_ = 0;
};

struct ReadResult {
    uint64_t records = 0;
    uint64_t valid_bytes = 0;  // offset just past the last good record
    bool corrupt_tail = false; // bytes after valid_bytes were torn or failed the CRC
};

// Calls fn(payload, offset_after_record) for each good record from `offset`; stops at the
// first bad one. A missing file reads as empty.
ReadResult read_records(const std::string &path, uint64_t offset,
                        const std::function<void(std::string_view, uint64_t)> &fn);

// Cuts a file at `size` (drops a corrupt tail before appending after it).
void truncate_file(const std::string &path, uint64_t size);

} // namespace trib::pinpoint
