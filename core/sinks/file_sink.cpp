#include "file_sink.hpp"

#include <tributary/line_protocol.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace trib::core {

std::string sanitize_path_component(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (unsigned char c : in) {
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) out.push_back('_');
        else out.push_back(static_cast<char>(c));
    }
    if (out.size() > 200) out.resize(200);
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

FileSink::FileSink(std::string name, std::string root) : name_(std::move(name)), root_(std::move(root)) {}

FileSink::~FileSink() {
    for (auto &kv : files_) std::fclose(kv.second);
}

std::FILE *FileSink::stream_for(const std::string &category, const std::string &measurement, std::string &err) {
    std::string key = category + '\0' + measurement;
    auto it = files_.find(key);
    if (it != files_.end()) return it->second;
    fs::path dir = fs::path(root_) / "points" / sanitize_path_component(category);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        err = "cannot create " + dir.string() + ": " + ec.message();
        return nullptr;
    }
    fs::path file = dir / (sanitize_path_component(measurement) + ".lp");
    std::FILE *f = std::fopen(file.c_str(), "ab");
    if (!f) {
        err = "cannot open " + file.string() + ": " + std::strerror(errno);
        return nullptr;
    }
    std::setvbuf(f, nullptr, _IOFBF, 1 << 16);
    files_[key] = f;
    return f;
}

namespace {
std::string profile_id_of(const trib::Point &p) {
    if (auto *f = p.find_field("profile_id"); f && (f->type == TRIB_FIELD_STRING || f->type == TRIB_FIELD_BYTES))
        return f->s;
    if (auto *t = p.find_tag("profile_id")) return *t;
    return std::string();
}

bool write_whole_file(const fs::path &path, const std::string &data, std::string &err) {
    static std::atomic<uint64_t> seq{0};
    fs::path tmp = path;
    tmp += ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
    std::FILE *f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
        err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
        return false;
    }
    bool ok = data.empty() || std::fwrite(data.data(), 1, data.size(), f) == data.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
        err = "short write to " + tmp.string() + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        err = "cannot rename to " + path.string() + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}
} // namespace

bool FileSink::write_attachments(const trib::Point &p, std::string &err) {
    if (p.attachments.empty()) return true;
    std::string id = profile_id_of(p);
    if (id.empty()) id = "no_profile_id-" + std::to_string(p.time_ns);
    fs::path dir = fs::path(root_) / "attachments" / sanitize_path_component(id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        err = "cannot create " + dir.string() + ": " + ec.message();
        return false;
    }
    for (auto &a : p.attachments) {
        static const std::string empty;
        if (!write_whole_file(dir / sanitize_path_component(a.name), a.data ? *a.data : empty, err)) return false;
    }
    return true;
}

trib_status FileSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    for (auto &p : batch) {
        if (!write_attachments(p, err)) return TRIB_RETRY;
        line_.clear();
        if (!trib::line_protocol::append_line(line_, p)) continue; // no representable field: nothing to write
        std::FILE *f = stream_for(p.category, p.measurement, err);
        if (!f) return TRIB_RETRY;
        if (std::fwrite(line_.data(), 1, line_.size(), f) != line_.size()) {
            err = std::string("write failed: ") + std::strerror(errno);
            return TRIB_RETRY;
        }
    }
    return TRIB_OK;
}

void FileSink::flush() {
    for (auto &kv : files_) std::fflush(kv.second);
}

} // namespace trib::core
