// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the spool's records.
// Uses the SSE4.2 crc32 instruction when the CPU has it, else slicing-by-8 tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace trib::record_file {

// Continues a CRC: crc32c_extend(crc32c_extend(0, a), b) == crc32c(a + b).
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);
inline uint32_t crc32c(const void *data, size_t len) { return crc32c_extend(0, data, len); }
inline uint32_t crc32c(std::string_view s) { return crc32c_extend(0, s.data(), s.size()); }

// Which implementation crc32c_extend uses on this machine ("sse4.2" or "table").
const char *crc32c_implementation();
// The portable implementation, exposed so tests can check both give the same answer.
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t len);

} // namespace trib::record_file
