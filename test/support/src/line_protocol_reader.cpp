#include <trib_test/support.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace fs = std::filesystem;

namespace trib::test {

std::string LpPoint::tag(const std::string &k) const {
    auto it = tags.find(k);
    return it == tags.end() ? std::string() : it->second;
}

namespace {

template <class T>
const T &typed_field(const LpPoint &p, const std::string &k, const char *type_name) {
    auto it = p.fields.find(k);
    if (it == p.fields.end()) throw std::runtime_error("point " + p.measurement + " has no field '" + k + "'");
    const T *v = std::get_if<T>(&it->second);
    if (!v) throw std::runtime_error("field '" + k + "' of " + p.measurement + " is not " + type_name);
    return *v;
}

class Reader {
  public:
    explicit Reader(std::string_view s) : s_(s) {}

    std::vector<LpPoint> all() {
        std::vector<LpPoint> out;
        for (;;) {
            skip_blank_lines();
            if (pos_ >= s_.size()) break;
            if (s_[pos_] == '#') {
                skip_to_eol();
                continue;
            }
            out.push_back(point());
        }
        return out;
    }

  private:
    [[noreturn]] void fail(const std::string &why) const {
        throw std::runtime_error("line protocol, line " + std::to_string(line_) + ": " + why);
    }
    bool at_end() const { return pos_ >= s_.size(); }
    char peek() const { return s_[pos_]; }

    void skip_blank_lines() {
        while (!at_end() && (peek() == '\n' || peek() == '\r' || peek() == ' ' || peek() == '\t')) {
            if (peek() == '\n') ++line_;
            ++pos_;
        }
    }
    void skip_to_eol() {
        while (!at_end() && peek() != '\n') ++pos_;
    }

    // Reads an unquoted token that ends at one of `stops`; a backslash before one of
    // `escapable` yields that character, any other backslash stays literal.
    std::string token(std::string_view stops, std::string_view escapable) {
        std::string out;
        while (!at_end()) {
            char c = peek();
            if (c == '\\' && pos_ + 1 < s_.size() && escapable.find(s_[pos_ + 1]) != std::string_view::npos) {
                out.push_back(s_[pos_ + 1]);
                pos_ += 2;
                continue;
            }
            if (stops.find(c) != std::string_view::npos) break;
            out.push_back(c);
            ++pos_;
        }
        return out;
    }

    void expect(char c, const char *what) {
        if (at_end() || peek() != c) fail(std::string("expected ") + what);
        ++pos_;
    }

    LpValue field_value(const std::string &key) {
        if (at_end()) fail("field '" + key + "' has no value");
        if (peek() == '"') {
            ++pos_;
            std::string out;
            for (;;) {
                if (at_end()) fail("unterminated string in field '" + key + "'");
                char c = peek();
                if (c == '\\' && pos_ + 1 < s_.size() && (s_[pos_ + 1] == '"' || s_[pos_ + 1] == '\\')) {
                    out.push_back(s_[pos_ + 1]);
                    pos_ += 2;
                    continue;
                }
                if (c == '"') {
                    ++pos_;
                    break;
                }
                if (c == '\n') ++line_;
                out.push_back(c);
                ++pos_;
            }
            return out;
        }
        std::string raw = token(", \n\r", "");
        if (raw.empty()) fail("field '" + key + "' has no value");
        if (raw == "t" || raw == "T" || raw == "true" || raw == "True" || raw == "TRUE") return true;
        if (raw == "f" || raw == "F" || raw == "false" || raw == "False" || raw == "FALSE") return false;
        const char *b = raw.data();
        const char *e = raw.data() + raw.size();
        if (raw.back() == 'i') {
            int64_t v = 0;
            auto r = std::from_chars(b, e - 1, v);
            if (r.ec != std::errc() || r.ptr != e - 1) fail("bad integer '" + raw + "' in field '" + key + "'");
            return v;
        }
        if (raw.back() == 'u') {
            uint64_t v = 0;
            auto r = std::from_chars(b, e - 1, v);
            if (r.ec != std::errc() || r.ptr != e - 1) fail("bad unsigned '" + raw + "' in field '" + key + "'");
            return v;
        }
        double d = 0;
        auto r = std::from_chars(b, e, d);
        if (r.ec != std::errc() || r.ptr != e) fail("bad float '" + raw + "' in field '" + key + "'");
        return d;
    }

    LpPoint point() {
        LpPoint p;
        p.measurement = token(", \n\r", ", ");
        if (p.measurement.empty()) fail("empty measurement");
        while (!at_end() && peek() == ',') {
            ++pos_;
            std::string k = token("=, \n\r", ",= ");
            expect('=', "'=' after tag key");
            std::string v = token(", \n\r", ",= ");
            if (k.empty()) fail("empty tag key");
            p.tags[k] = v;
        }
        expect(' ', "space before fields");
        for (;;) {
            std::string k = token("=, \n\r", ",= ");
            if (k.empty()) fail("empty field key");
            if (at_end() || peek() != '=') fail("expected '=' after field key '" + k + "'");
            ++pos_;
            p.fields[k] = field_value(k);
            if (!at_end() && peek() == ',') {
                ++pos_;
                continue;
            }
            break;
        }
        if (p.fields.empty()) fail("point without fields");
        if (!at_end() && peek() == ' ') {
            ++pos_;
            std::string ts = token(" \n\r", "");
            if (!ts.empty()) {
                auto r = std::from_chars(ts.data(), ts.data() + ts.size(), p.time_ns);
                if (r.ec != std::errc() || r.ptr != ts.data() + ts.size()) fail("bad timestamp '" + ts + "'");
            }
        }
        while (!at_end() && (peek() == ' ' || peek() == '\r')) ++pos_;
        if (!at_end() && peek() != '\n') fail(std::string("unexpected '") + peek() + "' after point");
        return p;
    }

    std::string_view s_;
    size_t pos_ = 0;
    size_t line_ = 1;
};

} // namespace

int64_t LpPoint::field_int(const std::string &k) const { return typed_field<int64_t>(*this, k, "an int"); }
uint64_t LpPoint::field_uint(const std::string &k) const { return typed_field<uint64_t>(*this, k, "a uint"); }
double LpPoint::field_float(const std::string &k) const { return typed_field<double>(*this, k, "a float"); }
bool LpPoint::field_bool(const std::string &k) const { return typed_field<bool>(*this, k, "a bool"); }
const std::string &LpPoint::field_str(const std::string &k) const {
    return typed_field<std::string>(*this, k, "a string");
}
double LpPoint::field_number(const std::string &k) const {
    auto it = fields.find(k);
    if (it == fields.end()) throw std::runtime_error("point " + measurement + " has no field '" + k + "'");
    if (auto *i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
    if (auto *u = std::get_if<uint64_t>(&it->second)) return static_cast<double>(*u);
    if (auto *d = std::get_if<double>(&it->second)) return *d;
    throw std::runtime_error("field '" + k + "' of " + measurement + " is not numeric");
}

std::vector<LpPoint> parse_line_protocol(std::string_view text) { return Reader(text).all(); }

std::vector<LpPoint> read_points(const std::string &data_dir, const std::string &category,
                                 const std::string &measurement) {
    std::vector<LpPoint> out;
    fs::path dir = fs::path(data_dir) / "points" / category;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    std::vector<fs::path> files;
    for (auto &e : fs::directory_iterator(dir, ec))
        if (e.path().extension() == ".lp") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto &f : files) {
        std::string text = read_file(f.string());
        // A writer may be mid-line; only complete lines count.
        size_t last_nl = text.rfind('\n');
        text.resize(last_nl == std::string::npos ? 0 : last_nl + 1);
        std::vector<LpPoint> pts;
        try {
            pts = parse_line_protocol(text);
        } catch (const std::exception &e) {
            throw std::runtime_error(f.string() + ": " + e.what());
        }
        for (auto &p : pts)
            if (measurement.empty() || p.measurement == measurement) out.push_back(std::move(p));
    }
    return out;
}

} // namespace trib::test
