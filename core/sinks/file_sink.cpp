#include "file_sink.hpp"

#include <tributary/line_protocol.hpp>

#include "host/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace trib::core {

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
bool same_file(const std::string &stored, const fs::path &target) {
    if (stored.empty()) return false;
    if (fs::path(stored).lexically_normal() == target.lexically_normal()) return true;
    struct stat a {
    }, b{};
    return ::stat(stored.c_str(), &a) == 0 && ::stat(target.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}
} // namespace

bool FileSink::write_attachments(const trib::Point &p, std::string &err) {
    if (p.attachments.empty()) return true;
    // Plain strings, not fs::path: the store's own paths are the same text, compared first.
    const std::string dir = root_ + "/attachments/" + attachment_dir_name(p);
    bool dir_made = false;
    for (auto &a : p.attachments) {
        const std::string target = dir + "/" + sanitize_path_component(a.name);
        // The store wrote this very file.
        if (!a.data && (a.stored_path == target || same_file(a.stored_path, target))) continue;
        if (!dir_made) {
            std::error_code ec;
            fs::create_directories(dir, ec);
            if (ec) {
                err = "cannot create " + dir + ": " + ec.message();
                return false;
            }
            dir_made = true;
        }
        if (!a.data && !a.stored_path.empty()) {
            // A link under a temporary name renamed over the target: readers see the old file or the new.
            std::string tmp = target + ".link" + std::to_string(::getpid());
            ::unlink(tmp.c_str());
            if (::link(a.stored_path.c_str(), tmp.c_str()) == 0) {
                if (::rename(tmp.c_str(), target.c_str()) == 0) continue;
                ::unlink(tmp.c_str());
            }
        }
        auto bytes = attachment_bytes(a, err);
        if (!bytes) {
            // Retention removed it before this sink got here: the point still goes.
            log_warn("sink " + name_, err);
            err.clear();
            continue;
        }
        if (!write_file_atomically(target, *bytes, false, err)) return false;
    }
    return true;
}

trib_status FileSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    for (auto &p : batch)
        if (trib_status st = write_point(p, err); st != TRIB_OK) return st;
    return TRIB_OK;
}

trib_status FileSink::write_parts(const std::vector<const std::vector<trib::Point> *> &parts, std::string &err) {
    for (auto *batch : parts)
        for (auto &p : *batch)
            if (trib_status st = write_point(p, err); st != TRIB_OK) return st;
    return TRIB_OK;
}

trib_status FileSink::write_point(const trib::Point &p, std::string &err) {
    if (!write_attachments(p, err)) return TRIB_RETRY;
    line_.clear();
    if (!trib::line_protocol::append_line(line_, p)) return TRIB_OK; // no representable field: nothing to write
    std::FILE *f = last_file_;
    if (!f || p.category != last_category_ || p.measurement != last_measurement_) {
        f = stream_for(p.category, p.measurement, err);
        if (!f) return TRIB_RETRY;
        last_file_ = f;
        last_category_ = p.category;
        last_measurement_ = p.measurement;
    }
    if (std::fwrite(line_.data(), 1, line_.size(), f) != line_.size()) {
        err = std::string("write failed: ") + std::strerror(errno);
        return TRIB_RETRY;
    }
    return TRIB_OK;
}

void FileSink::flush() {
    for (auto &kv : files_) std::fflush(kv.second);
}

} // namespace trib::core
