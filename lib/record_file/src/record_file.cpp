#include "tributary/record_file.hpp"

#include "tributary/crc32c.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace trib::record_file {

void put_le32(char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
uint32_t get_le32(const char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(static_cast<uint8_t>(p[i])) << (8 * i);
    return v;
}

bool pread_exact(int fd, char *buf, size_t n, uint64_t off) {
    while (n > 0) {
        ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        buf += r;
        n -= static_cast<size_t>(r);
        off += static_cast<uint64_t>(r);
    }
    return true;
}

uint32_t crc32_of(std::string_view data) {
    uLong c = ::crc32(0L, Z_NULL, 0);
    // zlib takes uInt lengths; feed large buffers in pieces.
    size_t off = 0;
    while (off < data.size()) {
        size_t n = std::min<size_t>(data.size() - off, 1u << 30);
        c = ::crc32(c, reinterpret_cast<const Bytef *>(data.data() + off), uInt(n));
        off += n;
    }
    return uint32_t(c);
}

uint32_t record_checksum(Checksum kind, std::string_view payload) {
    if (kind == Checksum::crc32_of_payload) return crc32_of(payload);
    char length_bytes[4];
    put_le32(length_bytes, static_cast<uint32_t>(payload.size()));
    return crc32c_extend(crc32c_extend(0, length_bytes, 4), payload.data(), payload.size());
}

void encode_header(Checksum kind, std::string_view payload, char *out) {
    put_le32(out, static_cast<uint32_t>(payload.size()));
    put_le32(out + 4, record_checksum(kind, payload));
}

Header decode_header(const char *in) { return Header{get_le32(in), get_le32(in + 4)}; }

bool verify(Checksum kind, const Header &header, std::string_view payload) {
    return payload.size() == header.length && record_checksum(kind, payload) == header.checksum;
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
    if (fd_ < 0 || payload.size() > kMaxRecordBytes) return false;
    char header[kHeaderBytes];
    encode_header(kind_, payload, header);
    // One writev keeps header and payload in a single O_APPEND write in the common case.
    const size_t total = kHeaderBytes + payload.size();
    size_t done = 0;
    while (done < total) {
        iovec iov[2];
        int count = 0;
        if (done < kHeaderBytes) iov[count++] = {header + done, kHeaderBytes - done};
        const size_t payload_done = done > kHeaderBytes ? done - kHeaderBytes : 0;
        if (payload.size() > payload_done)
            iov[count++] = {const_cast<char *>(payload.data()) + payload_done, payload.size() - payload_done};
        ssize_t n = ::writev(fd_, iov, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += size_t(n);
    }
    size_ += total;
    return true;
}

bool RecordWriter::sync() { return fd_ >= 0 && ::fdatasync(fd_) == 0; }

ReadResult read_records(const std::string &path, uint64_t offset, Checksum kind,
                        const std::function<void(std::string_view, uint64_t)> &fn) {
    ReadResult result;
    result.valid_bytes = offset;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return result;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        return result;
    }
    const uint64_t file_size = uint64_t(st.st_size);
    uint64_t pos = offset;
    std::vector<char> payload;
    while (pos + kHeaderBytes <= file_size) {
        char raw_header[kHeaderBytes];
        if (!pread_exact(fd, raw_header, kHeaderBytes, pos)) break;
        const Header header = decode_header(raw_header);
        if (header.length > kMaxRecordBytes || pos + kHeaderBytes + header.length > file_size) break;
        payload.resize(header.length);
        if (header.length && !pread_exact(fd, payload.data(), header.length, pos + kHeaderBytes)) break;
        std::string_view view(payload.data(), header.length);
        if (!verify(kind, header, view)) break;
        pos += kHeaderBytes + header.length;
        ++result.records;
        result.valid_bytes = pos;
        fn(view, pos);
    }
    result.corrupt_tail = result.valid_bytes < file_size;
    ::close(fd);
    return result;
}

void truncate_file(const std::string &path, uint64_t size) {
    if (::truncate(path.c_str(), off_t(size)) != 0 && errno != ENOENT)
        throw std::runtime_error("cannot truncate " + path + ": " + std::strerror(errno));
}

} // namespace trib::record_file
