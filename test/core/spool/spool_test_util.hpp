// Helpers shared by the spool tests: a temporary directory removed on scope exit.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace spool_test {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "trib-spool-XXXXXX").string();
        char *p = ::mkdtemp(tmpl.data());
        if (!p) throw std::runtime_error("mkdtemp failed");
        path = p;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
};

// A payload that names its sequence number and has a size that varies with it.
inline std::string payload(int n, size_t pad = 0) {
    std::string s = "record-" + std::to_string(n) + ":";
    s.append(pad + static_cast<size_t>(n % 13) * 7, static_cast<char>('a' + n % 26));
    return s;
}
inline int payload_number(const std::string &s) { return std::stoi(s.substr(7, s.find(':') - 7)); }

} // namespace spool_test
