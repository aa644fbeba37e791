#include "tributary/crc32c.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace trib::record_file;

TEST_CASE("crc32c matches the published check values", "[crc32c]") {
    // RFC 3720 B.4 and the CRC catalogue's "check" value for CRC-32/ISCSI.
    CHECK(crc32c("123456789") == 0xE3069283u);
    CHECK(crc32c_extend_portable(0, "123456789", 9) == 0xE3069283u);
    std::string zeros(32, '\0');
    CHECK(crc32c(zeros) == 0x8A9136AAu);
    std::string ones(32, '\xff');
    CHECK(crc32c(ones) == 0x62A8AB43u);
    std::string inc(32, '\0');
    for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
    CHECK(crc32c(inc) == 0x46DD794Eu);
    CHECK(crc32c("") == 0u);
}

TEST_CASE("crc32c: hardware and table implementations agree, extend composes", "[crc32c]") {
    std::mt19937 rng(7);
    for (int len : {1, 7, 8, 9, 63, 64, 65, 1000, 4097}) {
        std::string data(len, '\0');
        for (auto &c : data) c = static_cast<char>(rng());
        uint32_t whole = crc32c(data);
        CHECK(whole == crc32c_extend_portable(0, data.data(), data.size()));
        size_t cut = data.size() / 3;
        CHECK(crc32c_extend(crc32c(data.data(), cut), data.data() + cut, data.size() - cut) == whole);
        data[len / 2] ^= 1;
        CHECK(crc32c(data) != whole);
    }
    INFO("implementation: " << crc32c_implementation());
    CHECK(std::string(crc32c_implementation()).size() > 0);
}
