// Pyroscope's text formats: the `name` parameter, from/until, folded stacks, and
// pyroscope-go's sample_type_config.
#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <unordered_map>

namespace trib::profiling {

namespace {

bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}
bool app_char(char c) { return key_char(c) || c == '/' || c == ':'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

} // namespace

AppName parse_app_name(std::string_view name) {
    AppName out;
    size_t brace = name.find('{');
    std::string_view app = trim(name.substr(0, brace));
    if (app.empty()) throw DecodeError("name: the application name is empty");
    for (char c : app)
        if (!app_char(c)) throw DecodeError("name: invalid character '" + std::string(1, c) + "' in application name");
    out.app = std::string(app);
    if (brace == std::string_view::npos) return out;
    if (name.back() != '}') throw DecodeError("name: labels must end with '}'");
    std::string_view body = name.substr(brace + 1, name.size() - brace - 2);
    size_t pos = 0;
    while (pos <= body.size()) {
        size_t comma = body.find(',', pos);
        if (comma == std::string_view::npos) comma = body.size();
        std::string_view item = trim(body.substr(pos, comma - pos));
        pos = comma + 1;
        if (item.empty()) {
            if (comma == body.size()) break;
            continue; // tolerate "a=b,,c=d" and a trailing comma
        }
        size_t eq = item.find('=');
        if (eq == std::string_view::npos) throw DecodeError("name: label '" + std::string(item) + "' has no '='");
        std::string_view key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
        if (key.empty()) throw DecodeError("name: empty label key");
        for (char c : key)
            if (!key_char(c))
                throw DecodeError("name: invalid character '" + std::string(1, c) + "' in label key '" +
                                  std::string(key) + "'");
        if (value.find('}') != std::string_view::npos || value.find('{') != std::string_view::npos)
            throw DecodeError("name: braces inside label value of '" + std::string(key) + "'");
        out.labels.emplace_back(std::string(key), std::string(value));
    }
    return out;
}

int64_t pyroscope_time_to_ns(std::string_view text) {
    text = trim(text);
    if (text.empty() || text.size() > 19) throw DecodeError("time '" + std::string(text) + "' is not an integer");
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') throw DecodeError("time '" + std::string(text) + "' is not an integer");
        v = v * 10 + uint64_t(c - '0'); // 19 digits fit in uint64
    }
    // Seconds, ms, µs or ns by their digit count; a value past year 2262 in nanoseconds
    // does not fit an int64 and is refused rather than wrapped.
    uint64_t scale = v < 100'000'000'000ULL           ? 1'000'000'000
                     : v < 100'000'000'000'000ULL     ? 1'000'000
                     : v < 100'000'000'000'000'000ULL ? 1'000
                                                      : 1;
    uint64_t ns;
    if (__builtin_mul_overflow(v, scale, &ns) || ns > uint64_t(INT64_MAX))
        throw DecodeError("time '" + std::string(text) + "' is out of range");
    return int64_t(ns);
}

namespace {

// Protocol-buffer wire format, just what a pprof Profile needs.
void put_varint(std::string &out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(char(v | 0x80));
        v >>= 7;
    }
    out.push_back(char(v));
}
size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}
void put_tag(std::string &out, uint32_t field, uint32_t wire) { put_varint(out, (uint64_t(field) << 3) | wire); }
void put_int_field(std::string &out, uint32_t field, uint64_t v) {
    if (v == 0) return; // proto3 leaves defaults out
    put_tag(out, field, 0);
    put_varint(out, v);
}
void put_bytes_field(std::string &out, uint32_t field, std::string_view bytes) {
    put_tag(out, field, 2);
    put_varint(out, bytes.size());
    out.append(bytes);
}

uint64_t hash_text(std::string_view s) { return std::hash<std::string_view>{}(s); }

// Open addressing over views into the client's text: one uint32 slot per entry (+ the
// entry itself), not a node and a string copy per unique stack or frame.
class ViewIndex {
  public:
    // Index of `key` among views(), inserting it when new (then *inserted = true).
    template <class Views>
    uint32_t find_or_add(std::string_view key, Views &views, bool *inserted) {
        if ((views.size() + 1) * 4 > slots_.size() * 3) rehash(views);
        size_t mask = slots_.size() - 1;
        for (size_t i = hash_text(key) & mask;; i = (i + 1) & mask) {
            uint32_t slot = slots_[i];
            if (slot == 0) {
                slots_[i] = uint32_t(views.size() + 1);
                *inserted = true;
                return uint32_t(views.size());
            }
            if (views.key(slot - 1) == key) {
                *inserted = false;
                return slot - 1;
            }
        }
    }
    size_t bytes() const { return slots_.size() * sizeof(uint32_t); }

  private:
    template <class Views>
    void rehash(Views &views) {
        std::vector<uint32_t> next(std::max<size_t>(64, slots_.size() * 2), 0);
        size_t mask = next.size() - 1;
        for (size_t k = 0; k < views.size(); ++k) {
            size_t i = hash_text(views.key(k)) & mask;
            while (next[i] != 0) i = (i + 1) & mask;
            next[i] = uint32_t(k + 1);
        }
        slots_.swap(next);
    }
    std::vector<uint32_t> slots_;
};

struct FoldedStack {
    uint32_t offset, len; // in the text
    int64_t count;
};
struct Stacks {
    std::string_view text;
    std::vector<FoldedStack> items;
    size_t size() const { return items.size(); }
    std::string_view key(size_t i) const { return text.substr(items[i].offset, items[i].len); }
};
// Function names as (offset, length) in the text; kUnknown stands for "<unknown>" (an
// empty frame), which is not in the text.
struct Frames {
    static constexpr uint32_t kUnknown = UINT32_MAX;
    std::string_view text;
    std::vector<std::pair<uint32_t, uint32_t>> names; // function id = index + 1
    size_t size() const { return names.size(); }
    std::string_view key(size_t i) const {
        return names[i].first == kUnknown ? std::string_view("<unknown>")
                                          : text.substr(names[i].first, names[i].second);
    }
};

} // namespace

std::string folded_to_pprof(std::string_view text, bool lines_format, std::string_view units, int64_t sample_rate,
                            int64_t start_ns, int64_t end_ns, size_t max_output, trib::MemoryReservation *memory) {
    auto too_large = [&] {
        throw TooLargeError("folded body converts to a pprof larger than the limit of " + std::to_string(max_output) +
                            " bytes");
    };
    if (text.size() >= UINT32_MAX) too_large();

    // The string table: "" and the sample types first, then function names as met.
    std::vector<std::string_view> fixed_strings{""};
    auto fixed = [&](std::string_view s) -> uint64_t {
        for (size_t i = 0; i < fixed_strings.size(); ++i)
            if (fixed_strings[i] == s) return i;
        fixed_strings.push_back(s);
        return fixed_strings.size() - 1;
    };
    if (sample_rate <= 0) sample_rate = 100;
    // Pyroscope's units → pprof sample types; cpu samples also get their time.
    bool cpu = units.empty() || units == "samples";
    const std::string units_text = to_valid_utf8(units); // a client's query parameter
    std::string head;                                    // sample types, in field order
    auto add_type = [&](std::string_view t, std::string_view u) {
        std::string vt;
        put_int_field(vt, 1, fixed(t));
        put_int_field(vt, 2, fixed(u));
        put_bytes_field(head, 1, vt);
    };
    int64_t period = 0;
    if (cpu) {
        add_type("samples", "count");
        add_type("cpu", "nanoseconds");
        period = 1'000'000'000 / sample_rate;
    } else if (units == "objects") add_type("inuse_objects", "count");
    else if (units == "bytes") add_type("inuse_space", "bytes");
    else if (units == "lock_samples") add_type("contentions", "count");
    else if (units == "lock_nanoseconds") add_type("delay", "nanoseconds");
    else if (units == "goroutines") add_type("goroutine", "count");
    else add_type(units_text, "count");
    uint64_t period_type = 0, period_unit = 0;
    if (cpu) {
        period_type = fixed("cpu");
        period_unit = fixed("nanoseconds");
    }

    // Functions (and their locations and names) are written as they are first met:
    // stacks in order of first appearance, each leaf first — the order of a pprof writer
    // adding the samples one by one.
    Stacks stacks{text, {}};
    ViewIndex stack_index;
    Frames frames{text, {}};
    ViewIndex frame_index;
    size_t next_string = fixed_strings.size();
    std::string locations, functions, strings;
    size_t samples_estimate = 0; // encoded size of the samples so far (exact once written)
    auto account = [&] {
        size_t out = head.size() + locations.size() + functions.size() + strings.size() + samples_estimate;
        if (out > max_output) too_large();
        // Working memory is taken from the host budget a MiB at a time.
        size_t work = stacks.items.capacity() * sizeof(FoldedStack) + stack_index.bytes() + frame_index.bytes() +
                      frames.names.capacity() * sizeof(frames.names[0]) + out * 2;
        if (memory) memory->ensure((work | ((1u << 20) - 1)) + 1, "folded profile");
    };
    std::vector<uint64_t> ids;
    auto frame_ids = [&](std::string_view stack) {
        ids.clear();
        size_t end = stack.size();
        for (;;) { // frames right to left: the leaf first
            size_t semi = end == 0 ? std::string_view::npos : stack.rfind(';', end - 1);
            size_t begin = semi == std::string_view::npos ? 0 : semi + 1;
            std::string_view name = stack.substr(begin, end - begin);
            bool unknown = name.empty();
            if (unknown) name = "<unknown>";
            bool inserted = false;
            uint32_t fi = frame_index.find_or_add(name, frames, &inserted);
            if (inserted) {
                frames.names.emplace_back(unknown ? Frames::kUnknown : uint32_t(name.data() - text.data()),
                                          uint32_t(name.size()));
                uint64_t sid;
                auto it = std::find(fixed_strings.begin(), fixed_strings.end(), name);
                if (it != fixed_strings.end()) sid = uint64_t(it - fixed_strings.begin());
                else {
                    sid = next_string++;
                    // pprof strings are proto3 strings: readers refuse invalid UTF-8.
                    if (is_valid_utf8(name)) put_bytes_field(strings, 6, name);
                    else put_bytes_field(strings, 6, to_valid_utf8(name));
                }
                uint64_t id = fi + 1;
                std::string msg;
                put_int_field(msg, 1, id);
                put_int_field(msg, 2, sid);
                put_int_field(msg, 3, sid);
                put_bytes_field(functions, 5, msg);
                std::string line;
                put_int_field(line, 1, id);
                msg.clear();
                put_int_field(msg, 1, id);
                put_bytes_field(msg, 4, line);
                put_bytes_field(locations, 4, msg);
            }
            ids.push_back(fi + 1);
            if (semi == std::string_view::npos) break;
            end = semi;
        }
    };

    // Pass 1: unique stacks with their summed counts; every function.
    size_t line_no = 0, pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = trim(text.substr(pos, nl - pos));
        pos = nl + 1;
        ++line_no;
        if (line.empty()) continue;
        int64_t count = 1;
        std::string_view stack = line;
        if (!lines_format) {
            size_t sp = line.find_last_of(' ');
            if (sp == std::string_view::npos)
                throw DecodeError("folded line " + std::to_string(line_no) + ": no sample count");
            std::string_view num = line.substr(sp + 1);
            if (num.empty() || num.size() > 18 ||
                !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; }))
                throw DecodeError("folded line " + std::to_string(line_no) + ": count '" + std::string(num) +
                                  "' is not an integer");
            count = 0;
            for (char c : num) count = count * 10 + (c - '0');
            stack = trim(line.substr(0, sp));
        }
        if (stack.empty()) throw DecodeError("folded line " + std::to_string(line_no) + ": empty stack");
        bool inserted = false;
        uint32_t id = stack_index.find_or_add(stack, stacks, &inserted);
        if (inserted) {
            stacks.items.push_back(FoldedStack{uint32_t(stack.data() - text.data()), uint32_t(stack.size()), 0});
            frame_ids(stack);
            size_t loc_bytes = 0;
            for (uint64_t f : ids) loc_bytes += varint_size(f);
            samples_estimate += 2 + 2 + loc_bytes + 4 + 2 * sizeof(uint64_t); // values bounded above
            if ((stacks.items.size() & 255) == 1) account();
        }
        if (__builtin_add_overflow(stacks.items[id].count, count, &stacks.items[id].count))
            throw DecodeError("folded line " + std::to_string(line_no) + ": the sample count overflows");
    }
    if (stacks.items.empty()) throw DecodeError("folded body holds no samples");
    account();

    // Pass 2: the samples.
    std::string samples, packed, sample;
    samples.reserve(samples_estimate);
    for (size_t si = 0; si < stacks.items.size(); ++si) {
        frame_ids(stacks.key(si));
        sample.clear();
        packed.clear();
        for (uint64_t id : ids) put_varint(packed, id);
        put_bytes_field(sample, 1, packed);
        packed.clear();
        int64_t count = stacks.items[si].count;
        put_varint(packed, uint64_t(count));
        if (cpu) {
            int64_t nanos;
            if (__builtin_mul_overflow(count, period, &nanos)) throw DecodeError("folded body: the cpu time overflows");
            put_varint(packed, uint64_t(nanos));
        }
        put_bytes_field(sample, 2, packed);
        put_bytes_field(samples, 2, sample);
    }
    // The tables are not needed any more: give their memory back before the copy.
    std::vector<FoldedStack>().swap(stacks.items);
    std::vector<std::pair<uint32_t, uint32_t>>().swap(frames.names);

    std::string out;
    out.reserve(head.size() + samples.size() + locations.size() + functions.size() + strings.size() + 64 +
                fixed_strings.size() * 16);
    out += head;
    out += samples;
    std::string().swap(samples);
    out += locations;
    out += functions;
    for (auto fs : fixed_strings) put_bytes_field(out, 6, fs);
    out += strings;
    put_int_field(out, 9, uint64_t(start_ns));
    put_int_field(out, 10, uint64_t(end_ns > start_ns ? end_ns - start_ns : 0));
    if (cpu) {
        std::string vt;
        put_int_field(vt, 1, period_type);
        put_int_field(vt, 2, period_unit);
        put_bytes_field(out, 11, vt);
        put_int_field(out, 12, uint64_t(period));
    }
    if (out.size() > max_output) too_large();
    return out;
}

std::string go_profile_file_name(std::string_view json_text) {
    check_json_depth(json_text, "sample_type_config");
    // Our message, not the parser's text.
    nlohmann::json cfg = nlohmann::json::parse(json_text, nullptr, false);
    if (cfg.is_discarded()) throw DecodeError("sample_type_config: not valid JSON (or not UTF-8)");
    if (!cfg.is_object()) throw DecodeError("sample_type_config: not a JSON object");
    for (auto &[key, val] : cfg.items()) {
        if (key == "goroutine" || key == "goroutines") return "goroutines.pprof";
        if (key.rfind("alloc_", 0) == 0 || key.rfind("inuse_", 0) == 0) return "delta-heap.pprof";
        if (key == "contentions" || key == "delay") {
            std::string display;
            if (val.is_object() && val.contains("display-name") && val["display-name"].is_string())
                display = val["display-name"].get<std::string>();
            if (display.find("mutex") != std::string::npos) return "delta-mutex.pprof";
            if (display.find("block") != std::string::npos) return "delta-block.pprof";
        }
    }
    return "cpu.pprof";
}

} // namespace trib::profiling
