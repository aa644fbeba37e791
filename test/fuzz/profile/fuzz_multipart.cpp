// libFuzzer target: multipart parsing. Input = "<boundary>\n<body>"; also feeds the
// first line to multipart_boundary as a Content-Type.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/multipart.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) return 0;
    std::string_view boundary = in.substr(0, nl), body = in.substr(nl + 1);
    (void)trib::profiling::multipart_boundary(boundary);
    try {
        auto parts = trib::profiling::parse_multipart(body, boundary);
        for (auto &p : parts) {
            // Every part must be a view inside the body.
            if (p.data.size() &&
                (p.data.data() < body.data() || p.data.data() + p.data.size() > body.data() + body.size()))
                __builtin_trap();
        }
    } catch (const trib::profiling::DecodeError &) {}
    return 0;
}
