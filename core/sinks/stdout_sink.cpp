#include "stdout_sink.hpp"

#include <tributary/line_protocol.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace trib::core {

trib_status StdoutSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    std::string out;
    for (auto &p : batch) trib::line_protocol::append_line(out, p);
    if (!out.empty() && std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
        err = std::string("stdout: ") + std::strerror(errno);
        return TRIB_RETRY;
    }
    return TRIB_OK;
}

void StdoutSink::flush() { std::fflush(stdout); }

} // namespace trib::core
