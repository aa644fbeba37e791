#include <tributary/multipart.hpp>

#include <random>

namespace trib::multipart {

namespace {

// A Content-Disposition parameter: quoted, `"` and `\` escaped, CR/LF dropped (a name
// cannot end the header line).
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        if (c == '\r' || c == '\n') continue;
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string random_boundary() {
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::random_device rd;
    std::string b = "trib-";
    for (int i = 0; i < 30; ++i) b.push_back(alnum[rd() % 36]);
    return b;
}

} // namespace

Writer::Writer(std::string boundary) : boundary_(boundary.empty() ? random_boundary() : std::move(boundary)) {}

void Writer::add_field(std::string_view name, std::string_view value) {
    out_ += "--" + boundary_ + "\r\nContent-Disposition: form-data; name=" + quoted(name) + "\r\n\r\n";
    out_.append(value);
    out_ += "\r\n";
}

void Writer::add_file(std::string_view name, std::string_view filename, std::string_view content_type,
                      std::string_view data) {
    out_.reserve(out_.size() + data.size() + 256);
    out_ += "--" + boundary_ + "\r\nContent-Disposition: form-data; name=" + quoted(name) +
            "; filename=" + quoted(filename) + "\r\n";
    if (!content_type.empty()) {
        out_ += "Content-Type: ";
        out_.append(content_type);
        out_ += "\r\n";
    }
    out_ += "\r\n";
    out_.append(data);
    out_ += "\r\n";
}

std::string Writer::finish() {
    out_ += "--" + boundary_ + "--\r\n";
    return std::move(out_);
}

} // namespace trib::multipart
