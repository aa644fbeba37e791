// Binary form of a batch of points (with their attachments), the payload of a spool record.
//
// Layout, little-endian, every string and byte blob as [u32 length][bytes]:
//   "TPB" u8 version(=1) u32 point_count
//   per point: str measurement, str category, i64 time_ns,
//              u32 tag_count  {str key, str value}
//              u32 field_count {u8 type, str key, value: i64 | u64 | f64 bits | u8 bool | str}
//              u32 attachment_count {str name, str content_type, str data}
// Version 2 (written only when an attachment is in the host's attachment store) holds,
// per attachment, {str name, str content_type, u8 kind, kind 0: str data | kind 1: str
// stored_path, u64 size}; this build reads both. A newer writer bumps the version; a reader
// refuses versions it does not know rather than guessing, so a spool written by a newer
// host is never misread by an older one.
#pragma once

#include <tributary/plugin.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace trib::core {

inline constexpr uint8_t kPointCodecVersion = 1;       // bytes only
inline constexpr uint8_t kPointCodecStoredVersion = 2; // attachments may be store references

struct PointCodecError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string encode_points(const std::vector<trib::Point> &points);
void append_encoded_points(std::string &out, const std::vector<trib::Point> &points);
// Throws PointCodecError on truncated, oversized or unknown-version input.
std::vector<trib::Point> decode_points(std::string_view bytes);

} // namespace trib::core
