// multipart/form-data (RFC 7578) reading (and lib/multipart's writer under its old name). Parsing returns views into the
// body: no part is copied.
#pragma once

#include <tributary/multipart.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::profiling {

struct MultipartPart {
    std::string name, filename, content_type;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view data; // a view into the body passed to parse_multipart
};

// The boundary parameter of a multipart/form-data Content-Type; empty when the type is
// something else or has no boundary.
std::string multipart_boundary(std::string_view content_type);

// Splits a body into its parts. Throws DecodeError on a malformed body (no opening
// boundary, a part without headers end, no closing boundary).
std::vector<MultipartPart> parse_multipart(std::string_view body, std::string_view boundary);

// The writer is lib/multipart's (the host's dataway sink writes with it too).
using MultipartWriter = trib::multipart::Writer;

} // namespace trib::profiling
