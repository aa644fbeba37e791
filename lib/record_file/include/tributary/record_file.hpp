// Length-prefixed, checksummed records in append-only files: [u32 length][u32 checksum][payload],
// both numbers little-endian. Two checksums are in use on users' disks and both stay readable:
// core's spool sums the 4 length bytes and the payload with CRC-32C; the pinpoint input's
// durable queue and metadata log sum the payload alone with zlib's CRC-32. A torn or corrupt
// tail is found on read and can be cut off, so a crash mid-write loses at most that record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace trib::record_file {

enum class Checksum {
    crc32c_of_length_and_payload, // core's spool segments
    crc32_of_payload,             // pinpoint's durable queue and metadata log (zlib crc32)
};

inline constexpr size_t kHeaderBytes = 8;
// Largest payload the writer accepts and the reader believes (a larger length is a torn tail).
inline constexpr uint32_t kMaxRecordBytes = 256u << 20;

struct Header {
    uint32_t length = 0;
    uint32_t checksum = 0;
};

// Little-endian u32, as the headers hold their numbers; the spool's ack file uses them too.
void put_le32(char *out, uint32_t value);
uint32_t get_le32(const char *in);
// Reads exactly n bytes at `offset`, retrying short reads and EINTR; false on EOF or error.
bool pread_exact(int fd, char *buf, size_t n, uint64_t offset);

// zlib's CRC-32 of `data` (any size).
uint32_t crc32_of(std::string_view data);
uint32_t record_checksum(Checksum kind, std::string_view payload);
// Writes the 8 header bytes for `payload` to `out`.
void encode_header(Checksum kind, std::string_view payload, char *out);
Header decode_header(const char *in);
// True when `payload` (header.length bytes) matches the header's checksum.
bool verify(Checksum kind, const Header &header, std::string_view payload);

// Appends records to one file (created if missing). Not thread-safe: callers serialize.
class RecordWriter {
  public:
    explicit RecordWriter(Checksum kind) : kind_(kind) {}
    ~RecordWriter();
    RecordWriter(const RecordWriter &) = delete;
    RecordWriter &operator=(const RecordWriter &) = delete;

    // Throws std::runtime_error with the path and errno text.
    void open(const std::string &path, bool truncate = false);
    void close();
    bool is_open() const { return fd_ >= 0; }
    // False (errno kept) when the write failed or the payload exceeds kMaxRecordBytes.
    bool append(std::string_view payload);
    bool sync();
    uint64_t size() const { return size_; }

  private:
    Checksum kind_;
    int fd_ = -1;
    uint64_t size_ = 0;
};

struct ReadResult {
    uint64_t records = 0;
    uint64_t valid_bytes = 0;  // offset just past the last good record
    bool corrupt_tail = false; // bytes after valid_bytes were torn or failed the checksum
};

// Calls fn(payload, offset_after_record) for each good record from `offset`; stops at the
// first bad one. A missing file reads as empty.
ReadResult read_records(const std::string &path, uint64_t offset, Checksum kind,
                        const std::function<void(std::string_view, uint64_t)> &fn);

// Cuts a file at `size` (drops a corrupt tail before appending after it). A missing file is fine.
void truncate_file(const std::string &path, uint64_t size);

} // namespace trib::record_file
