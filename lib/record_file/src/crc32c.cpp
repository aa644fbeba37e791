#include "tributary/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define TRIB_CRC32C_X86 1
#endif

namespace trib::record_file {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

struct Tables {
    std::array<std::array<uint32_t, 256>, 8> t{};
    constexpr Tables() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; ++i)
            for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
};
constexpr Tables kTables{};

#ifdef TRIB_CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t len) {
    auto *p = static_cast<const uint8_t *>(data);
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = static_cast<uint32_t>(c);
    while (len--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}

bool have_sse42() {
    static const bool has = __builtin_cpu_supports("sse4.2");
    return has;
}
#endif

} // namespace

uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t len) {
    auto *p = static_cast<const uint8_t *>(data);
    uint32_t c = ~crc;
    const auto &t = kTables.t;
    while (len >= 8) {
        // Little-endian word assembly keeps this correct on any host byte order.
        uint32_t lo = c ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len) {
#ifdef TRIB_CRC32C_X86
    if (have_sse42()) return crc32c_sse42(crc, data, len);
#endif
    return crc32c_extend_portable(crc, data, len);
}

const char *crc32c_implementation() {
#ifdef TRIB_CRC32C_X86
    if (have_sse42()) return "sse4.2";
#endif
    return "table";
}

} // namespace trib::record_file
