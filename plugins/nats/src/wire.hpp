// What the nats sink puts on JetStream and the nats input reads back (points travel as
// line protocol, <tributary/line_protocol.hpp>): header names, subject tokens, digests and
// the chunk layout for bodies above the server's max_payload. Pure functions, shared by
// both modules and the tests.
#pragma once

#include <tributary/plugin.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trib::nats {

// Headers (nats.c 3.x keeps header keys as written: both sides use these exact spellings).
inline constexpr const char *kHdrCategory = "Trib-Category";        // point messages: the raw category
inline constexpr const char *kHdrPointId = "Trib-Point-Id";         // ties attachments to their point
inline constexpr const char *kHdrAttachments = "Trib-Attachments";  // point: how many attachments follow
inline constexpr const char *kHdrProfileId = "Trib-Profile-Id";     // point and attachments
inline constexpr const char *kHdrPart = "Trib-Part";                // attachment: part (file) name
inline constexpr const char *kHdrContentType = "Trib-Content-Type"; // attachment
inline constexpr const char *kHdrIndex = "Trib-Index";              // attachment: position among its point's
inline constexpr const char *kHdrMessageId = "Trib-Message-Id";     // chunked: the whole message's id
inline constexpr const char *kHdrChunkIndex = "Trib-Chunk-Index";   // 0-based
inline constexpr const char *kHdrChunkCount = "Trib-Chunk-Count";
inline constexpr const char *kHdrTotalSize = "Trib-Total-Size"; // bytes of the whole body
inline constexpr const char *kHdrSha256 = "Trib-Sha256";        // hex digest of the whole body
inline constexpr const char *kHdrNatsMsgId = "Nats-Msg-Id";     // JetStream de-duplication

// Lowercase hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// SHA-256 over several pieces without joining them.
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256 &) = delete;
    Sha256 &operator=(const Sha256 &) = delete;
    void update(std::string_view data);
    std::string hex(); // once, at the end

  private:
    void *ctx_;
};

// A subject token (no '.', '*', '>', whitespace or control bytes; never empty).
std::string subject_token(std::string_view s);

// Header values may not hold CR/LF: '%' and bytes outside printable ASCII are %XX-encoded.
std::string header_escape(std::string_view s);
std::string header_unescape(std::string_view s);

// Splits a body of `total` bytes into chunks of at most `chunk_size` (>0) bytes: returns
// the number of chunks (1 when it fits).
inline size_t chunk_count(size_t total, size_t chunk_size) {
    return total <= chunk_size ? 1 : (total + chunk_size - 1) / chunk_size;
}

} // namespace trib::nats
