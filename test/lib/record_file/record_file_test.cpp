#include "tributary/record_file.hpp"

#include <catch2/catch.hpp>
#include <trib_test/support.hpp>

#include <string>
#include <vector>

using namespace trib::record_file;
using trib::test::read_file;
using trib::test::TempDir;
using trib::test::write_file;

namespace {

constexpr Checksum kBothKinds[] = {Checksum::crc32c_of_length_and_payload, Checksum::crc32_of_payload};

std::vector<std::string> read_all(const std::string &path, Checksum kind, ReadResult *result = nullptr) {
    std::vector<std::string> out;
    ReadResult r = read_records(path, 0, kind, [&](std::string_view rec, uint64_t) { out.emplace_back(rec); });
    if (result) *result = r;
    return out;
}

void write_records(const std::string &path, Checksum kind, const std::vector<std::string> &payloads) {
    RecordWriter w(kind);
    w.open(path, true);
    for (auto &p : payloads) REQUIRE(w.append(p));
    REQUIRE(w.sync());
}

// Bytes as the code before trib_record_file wrote them, typed out by hand.
std::string bytes(std::initializer_list<unsigned char> list) { return std::string(list.begin(), list.end()); }

} // namespace

TEST_CASE("record_file: both checksum kinds round-trip records, offsets and sizes", "[record_file]") {
    TempDir dir("trib-record-file");
    const std::vector<std::string> payloads = {"first", "", std::string(100000, 'x'), std::string("bin\0ary", 7)};
    for (Checksum kind : kBothKinds) {
        const std::string path = dir.sub("records");
        RecordWriter w(kind);
        w.open(path, true);
        for (auto &p : payloads) REQUIRE(w.append(p));
        uint64_t expected_size = 0;
        for (auto &p : payloads) expected_size += kHeaderBytes + p.size();
        CHECK(w.size() == expected_size);
        w.close();
        CHECK(read_file(path).size() == expected_size);

        std::vector<uint64_t> ends;
        std::vector<std::string> got;
        ReadResult r = read_records(path, 0, kind, [&](std::string_view rec, uint64_t end) {
            got.emplace_back(rec);
            ends.push_back(end);
        });
        CHECK(got == payloads);
        CHECK(r.records == payloads.size());
        CHECK(r.valid_bytes == expected_size);
        CHECK_FALSE(r.corrupt_tail);
        CHECK(ends.front() == kHeaderBytes + payloads[0].size());
        CHECK(ends.back() == expected_size);

        // Reading from a record boundary yields the records after it.
        std::vector<std::string> rest;
        read_records(path, ends[1], kind, [&](std::string_view rec, uint64_t) { rest.emplace_back(rec); });
        CHECK(rest == std::vector<std::string>(payloads.begin() + 2, payloads.end()));

        // Reopening appends after what is there.
        w.open(path);
        CHECK(w.size() == expected_size);
        REQUIRE(w.append("appended"));
        w.close();
        CHECK(read_all(path, kind).back() == "appended");
    }
}

TEST_CASE("record_file: the two kinds do not accept each other's records", "[record_file]") {
    TempDir dir("trib-record-file");
    write_records(dir.sub("spool"), Checksum::crc32c_of_length_and_payload, {"payload"});
    ReadResult r;
    CHECK(read_all(dir.sub("spool"), Checksum::crc32_of_payload, &r).empty());
    CHECK(r.corrupt_tail);
    CHECK(r.valid_bytes == 0);
}

TEST_CASE("record_file: a torn tail is cut off and appends continue after the last good record", "[record_file]") {
    TempDir dir("trib-record-file");
    for (Checksum kind : kBothKinds) {
        const std::string path = dir.sub("torn");
        write_records(path, kind, {"one", "two", "three"});
        const std::string whole = read_file(path);
        const uint64_t two_end = 2 * kHeaderBytes + 3 + 3;
        // Cut inside the third record's payload, then inside its header.
        for (size_t cut : {whole.size() - 2, size_t(two_end + 5)}) {
            write_file(path, whole.substr(0, cut));
            ReadResult r;
            CHECK(read_all(path, kind, &r) == std::vector<std::string>{"one", "two"});
            CHECK(r.corrupt_tail);
            CHECK(r.valid_bytes == two_end);

            truncate_file(path, r.valid_bytes);
            RecordWriter w(kind);
            w.open(path);
            REQUIRE(w.append("four"));
            w.close();
            ReadResult after;
            CHECK(read_all(path, kind, &after) == std::vector<std::string>{"one", "two", "four"});
            CHECK_FALSE(after.corrupt_tail);
        }
    }
    // Truncating a file that is not there is not an error (nothing to cut).
    CHECK_NOTHROW(truncate_file(dir.sub("missing"), 0));
    CHECK(read_all(dir.sub("missing"), Checksum::crc32_of_payload).empty());
}

TEST_CASE("record_file: a flipped byte stops the read at the damaged record", "[record_file]") {
    TempDir dir("trib-record-file");
    for (Checksum kind : kBothKinds) {
        const std::string path = dir.sub("flipped");
        write_records(path, kind, {"alpha", "bravo", "charlie"});
        const std::string whole = read_file(path);
        const size_t second = kHeaderBytes + 5;
        // A payload byte, a checksum byte, and (crc32c kind covers it) a length byte of record 2.
        for (size_t at : {second + kHeaderBytes + 1, second + 5, second + 0}) {
            std::string damaged = whole;
            damaged[at] = char(damaged[at] ^ 0x01);
            write_file(path, damaged);
            ReadResult r;
            CHECK(read_all(path, kind, &r) == std::vector<std::string>{"alpha"});
            CHECK(r.corrupt_tail);
            CHECK(r.valid_bytes == second);
        }
    }
}

TEST_CASE("record_file: files in the formats written before the library still read", "[record_file]") {
    TempDir dir("trib-record-file");
    // Core spool segment: [u32 len][crc32c over the 4 length bytes + payload][payload].
    write_file(dir.sub("00000000000000000001.seg"),
               bytes({0x03, 0x00, 0x00, 0x00, 0xf8, 0x83, 0x14, 0x55, 'a', 'b', 'c', //
                      0x05, 0x00, 0x00, 0x00, 0xa1, 0xb1, 0x17, 0x4e, 'h', 'e', 'l', 'l', 'o'}));
    ReadResult spool;
    CHECK(read_all(dir.sub("00000000000000000001.seg"), Checksum::crc32c_of_length_and_payload, &spool) ==
          std::vector<std::string>{"abc", "hello"});
    CHECK_FALSE(spool.corrupt_tail);

    // Pinpoint durable queue / metadata log: [u32 len][zlib crc32 of payload][payload].
    write_file(dir.sub("queue.log"), bytes({0x03, 0x00, 0x00, 0x00, 0xc2, 0x41, 0x24, 0x35, 'a', 'b', 'c', //
                                            0x05, 0x00, 0x00, 0x00, 0x86, 0xa6, 0x10, 0x36, 'h', 'e', 'l', 'l', 'o'}));
    ReadResult pinpoint;
    CHECK(read_all(dir.sub("queue.log"), Checksum::crc32_of_payload, &pinpoint) ==
          std::vector<std::string>{"abc", "hello"});
    CHECK_FALSE(pinpoint.corrupt_tail);

    // And the writer produces exactly those bytes today.
    write_records(dir.sub("spool-now"), Checksum::crc32c_of_length_and_payload, {"abc", "hello"});
    CHECK(read_file(dir.sub("spool-now")) == read_file(dir.sub("00000000000000000001.seg")));
    write_records(dir.sub("pinpoint-now"), Checksum::crc32_of_payload, {"abc", "hello"});
    CHECK(read_file(dir.sub("pinpoint-now")) == read_file(dir.sub("queue.log")));

    char header[kHeaderBytes];
    encode_header(Checksum::crc32_of_payload, "abc", header);
    const Header decoded = decode_header(header);
    CHECK(decoded.length == 3);
    CHECK(decoded.checksum == 0x352441c2u);
    CHECK(verify(Checksum::crc32_of_payload, decoded, "abc"));
    CHECK_FALSE(verify(Checksum::crc32_of_payload, decoded, "abd"));
    CHECK_FALSE(verify(Checksum::crc32c_of_length_and_payload, decoded, "abc"));
}

TEST_CASE("record_file: a payload over the limit is refused, the file unchanged", "[record_file]") {
    TempDir dir("trib-record-file");
    RecordWriter w(Checksum::crc32_of_payload);
    w.open(dir.sub("big"), true);
    REQUIRE(w.append("small"));
    CHECK_FALSE(w.append(std::string(kMaxRecordBytes + 1, 'z')));
    CHECK(w.size() == kHeaderBytes + 5);
    w.close();
    CHECK(read_all(dir.sub("big"), Checksum::crc32_of_payload) == std::vector<std::string>{"small"});
    RecordWriter closed(Checksum::crc32_of_payload);
    CHECK_FALSE(closed.append("x"));
    CHECK_THROWS_WITH(closed.open(dir.sub("no/such/dir/file")), Catch::Contains("no/such/dir/file"));
}
