#include "record_file.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace trib::pinpoint {
namespace {

constexpr uint32_t kMaxRecord = 256u << 20;

void put_u32(char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = char((v >> (8 * i)) & 0xff);
}
uint32_t get_u32(const unsigned char *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

} // namespace

uint32_t crc32_of(std::string_view data) {
    uLong c = crc32(0L, Z_NULL, 0);
    // zlib takes uInt lengths; feed large buffers in pieces.
    size_t off = 0;
    while (off < data.size()) {
        size_t n = std::min<size_t>(data.size() - off, 1u << 30);
        c = crc32(c, reinterpret_cast<const Bytef *>(data.data() + off), uInt(n));
        off += n;
    }
    return uint32_t(c);
}

RecordWriter::~RecordWriter() { close(); }

void RecordWriter::open(const std::string &path, bool truncate) {
    close();
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? uint64_t(st.st_size) : 0;
}

void RecordWriter::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool RecordWriter::append(std::string_view payload) {
    if (fd_ < 0 || payload.size() > kMaxRecord) return false;
    std::string buf(8 + payload.size(), '\0');
    put_u32(buf.data(), uint32_t(payload.size()));
    put_u32(buf.data() + 4, crc32_of(payload));
    std::memcpy(buf.data() + 8, payload.data(), payload.size());
    size_t off = 0;
    while (off < buf.size()) {
        ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        off += size_t(n);
    }
    size_ += buf.size();
    return true;
}

bool RecordWriter::sync() { return fd_ >= 0 && ::fdatasync(fd_) == 0; }

ReadResult read_records(const std::string &path, uint64_t offset,
                        const std::function<void(std::string_view, uint64_t)> &fn) {
    ReadResult r;
    r.valid_bytes = offset;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        return r;
    }
    uint64_t file_size = uint64_t(st.st_size);
    uint64_t pos = offset;
    std::vector<char> payload;
    while (pos + 8 <= file_size) {
        unsigned char hdr[8];
        if (::pread(fd, hdr, 8, off_t(pos)) != 8) break;
        uint32_t len = get_u32(hdr), crc = get_u32(hdr + 4);
        if (len > kMaxRecord || pos + 8 + len > file_size) break;
        payload.resize(len);
        if (len && ::pread(fd, payload.data(), len, off_t(pos + 8)) != ssize_t(len)) break;
        std::string_view view(payload.data(), len);
        if (crc32_of(view) != crc) break;
        pos += 8 + len;
        ++r.records;
        r.valid_bytes = pos;
        fn(view, pos);
    }
    r.corrupt_tail = r.valid_bytes < file_size;
    ::close(fd);
    return r;
}

void truncate_file(const std::string &path, uint64_t size) {
    if (::truncate(path.c_str(), off_t(size)) != 0 && errno != ENOENT)
        throw std::runtime_error("cannot truncate " + path + ": " + std::strerror(errno));
}

} // namespace trib::pinpoint
