// The one-pass pprof reader (see pprof_reader.hpp). Wire format rules follow libprotobuf's
// parser (3.21) so that both accept and reject the same bytes: varints of at most 10 bytes
// (tags 5), lengths below 2^31, a known field with another wire type kept as an unknown
// field, packed or unpacked repeated scalars, groups in unknown fields, proto3 strings
// checked as UTF-8, nesting at most 100 deep.
#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pprof_reader.hpp>

#include <bit>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace trib::profiling {

int PprofSummary::find(std::string_view type) const {
    for (size_t i = 0; i < sample_types.size(); ++i)
        if (sample_types[i].type == type) return int(i);
    return -1;
}

namespace {

// Field numbers of proto/pprof.proto.
namespace profile_field {
constexpr uint32_t sample_type = 1, sample = 2, mapping = 3, location = 4, function = 5, string_table = 6,
                   time_nanos = 9, duration_nanos = 10, period_type = 11, comment = 13;
}
namespace sample_field {
constexpr uint32_t location_id = 1, value = 2, label = 3;
}
namespace value_type_field {
constexpr uint32_t type = 1, unit = 2;
}
namespace label_field {
constexpr uint32_t key = 1, str = 2;
}
namespace location_field {
constexpr uint32_t line = 4;
}

enum Wire : uint32_t { varint = 0, fixed64 = 1, length = 2, group_start = 3, group_end = 4, fixed32 = 5 };
constexpr int kMaxDepth = 100; // libprotobuf's default recursion limit

[[noreturn]] void bad(const char *why) {
    throw DecodeError(std::string("pprof: not a valid profile protobuf (") + why + ")");
}

struct Cursor {
    const uint8_t *p, *end;
    bool done() const { return p >= end; }

    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (p >= end) bad("truncated varint");
            uint8_t b = *p++;
            v |= uint64_t(b & 0x7f) << (shift < 64 ? shift : 63);
            if (b < 0x80) return v;
        }
        bad("varint longer than 10 bytes");
    }
    // A varint read past, accepted and refused as varint() does.
    void skip_varint() {
        const size_t left = size_t(end - p);
        const uint8_t *limit = p + (left < 10 ? left : 10);
        const uint8_t *q = p;
        while (q < limit && (*q & 0x80)) ++q;
        if (q == limit) bad(left < 10 ? "truncated varint" : "varint longer than 10 bytes");
        p = q + 1;
    }
    // A tag is a varint of at most 5 bytes, truncated to 32 bits.
    uint32_t tag() {
        if (p < end && *p < 0x80) { // field numbers below 16: nearly every tag of a profile
            uint32_t v = *p++;
            if ((v >> 3) == 0) bad("field number 0");
            return v;
        }
        uint32_t v = 0;
        for (int i = 0; i < 5; ++i) {
            if (p >= end) bad("truncated tag");
            uint8_t b = *p++;
            v |= uint32_t(b & 0x7f) << (7 * i);
            if (b < 0x80) {
                if ((v >> 3) == 0) bad("field number 0");
                return v;
            }
        }
        bad("tag longer than 5 bytes");
    }
    // The bytes of a length-delimited field.
    Cursor sub() {
        uint64_t n = 0;
        for (int i = 0;; ++i) {
            if (i == 5) bad("length longer than 5 bytes");
            if (p >= end) bad("truncated length");
            uint8_t b = *p++;
            n |= uint64_t(b & 0x7f) << (7 * i);
            if (b < 0x80) break;
        }
        if (n > uint64_t(std::numeric_limits<int32_t>::max())) bad("length over 2 GiB");
        if (n > uint64_t(end - p)) bad("length past the end");
        Cursor c{p, p + n};
        p += n;
        return c;
    }
    void skip(size_t n) {
        if (n > size_t(end - p)) bad("truncated fixed-size field");
        p += n;
    }
};

// Skips a field of any wire type (an unknown field, or a known one we do not read).
void skip_field(Cursor &c, uint32_t tag, int depth) {
    switch (tag & 7) {
    case varint: c.skip_varint(); return;
    case fixed64: c.skip(8); return;
    case length: c.sub(); return;
    case fixed32: c.skip(4); return;
    case group_start: {
        if (depth + 1 > kMaxDepth) bad("nested too deep");
        for (;;) {
            uint32_t t = c.tag();
            if ((t & 7) == group_end) {
                if ((t >> 3) != (tag >> 3)) bad("mismatched end of group");
                return;
            }
            skip_field(c, t, depth + 1);
        }
    }
    case group_end: bad("end of group outside a group");
    default: bad("invalid wire type");
    }
}

// A message none of whose contents we read: every field is checked and skipped.
void check_message(Cursor c, int depth) {
    if (depth > kMaxDepth) bad("nested too deep");
    while (!c.done()) skip_field(c, c.tag(), depth);
}

// A packed run of varints.
template <class Fn>
void packed_varints(Cursor c, Fn &&fn) {
    while (!c.done()) fn(c.varint());
}

// A packed run of varints checked, not decoded (a sample's location ids): each ends at a byte
// below 0x80 within 10 bytes, the rule Cursor::varint applies. Eight bytes at a time: their
// continuation bits as a byte mask; a word that is not all continuation bytes cannot hold a
// run of 10 by itself, so only the runs crossing words are counted.
void check_packed_varints(Cursor c) {
    int run = 0; // continuation bytes of the varint in hand
    const uint8_t *p = c.p;
    for (; p + 8 <= c.end; p += 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        uint64_t high = word & 0x8080808080808080ull;
        if (high == 0) {
            run = 0;
            continue;
        }
        // One bit per byte, byte 0 lowest (little-endian load).
        uint32_t mask = uint32_t(((high >> 7) * 0x0102040810204080ull) >> 56);
        if (mask == 0xff) {
            run += 8;
            if (run >= 10) bad("varint longer than 10 bytes");
            continue;
        }
        if (run + std::countr_one(mask) >= 10) bad("varint longer than 10 bytes");
        run = std::countl_one(uint8_t(mask));
    }
    for (; p < c.end; ++p) {
        if (*p & 0x80) {
            if (++run == 10) bad("varint longer than 10 bytes");
        } else {
            run = 0;
        }
    }
    if (run) bad("truncated varint");
}

void check_location(Cursor c, int depth) {
    if (depth > kMaxDepth) bad("nested too deep");
    while (!c.done()) {
        uint32_t t = c.tag();
        if (t >> 3 == location_field::line && (t & 7) == length) check_message(c.sub(), depth + 1);
        else skip_field(c, t, depth);
    }
}

// Most profile strings are ASCII: eight bytes at a time, before the full UTF-8 check.
bool is_ascii(std::string_view s) {
    uint64_t any = 0;
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t word;
        std::memcpy(&word, s.data() + i, 8);
        any |= word;
    }
    for (; i < s.size(); ++i) any |= uint8_t(s[i]);
    return (any & 0x8080808080808080ull) == 0;
}

// The two int64 fields read of a small message (ValueType type/unit, Label key/str); the
// last one of each number wins, as in libprotobuf, the other fields are checked.
std::pair<int64_t, int64_t> two_int64s(Cursor c, uint32_t first, uint32_t second, int depth) {
    std::pair<int64_t, int64_t> out{0, 0};
    while (!c.done()) {
        uint32_t t = c.tag();
        if ((t & 7) == varint && (t >> 3) == first) out.first = int64_t(c.varint());
        else if ((t & 7) == varint && (t >> 3) == second) out.second = int64_t(c.varint());
        else skip_field(c, t, depth);
    }
    return out;
}

class Reader {
  public:
    Reader(const PprofReadOptions &o) : opts_(o) {}

    PprofSummary read(std::string_view raw) {
        if (raw.size() > size_t(std::numeric_limits<int>::max())) bad("larger than 2 GiB");
        Cursor c{reinterpret_cast<const uint8_t *>(raw.data()),
                 reinterpret_cast<const uint8_t *>(raw.data()) + raw.size()};
        PprofSummary out;
        while (!c.done()) {
            uint32_t t = c.tag();
            uint32_t field = t >> 3, wire = t & 7;
            if (wire == length) {
                switch (field) {
                case profile_field::sample_type: sample_type(c.sub()); continue;
                case profile_field::sample: sample(c.sub()); continue;
                case profile_field::mapping:
                case profile_field::function:
                case profile_field::period_type:
                    if (opts_.check_unread) check_message(c.sub(), 1);
                    else c.sub();
                    continue;
                case profile_field::location:
                    if (opts_.check_unread) check_location(c.sub(), 1);
                    else c.sub();
                    continue;
                case profile_field::string_table: {
                    Cursor s = c.sub();
                    std::string_view text(reinterpret_cast<const char *>(s.p), size_t(s.end - s.p));
                    if ((opts_.check_unread || opts_.max_label_keys > 0) && !is_ascii(text) && !is_valid_utf8(text))
                        bad("string table entry is not UTF-8");
                    strings_.push_back(text);
                    continue;
                }
                case profile_field::comment:
                    if (opts_.check_unread) packed_varints(c.sub(), [](uint64_t) {});
                    else c.sub();
                    continue;
                default: break;
                }
            } else if (wire == varint) {
                if (field == profile_field::time_nanos) {
                    out.time_nanos = int64_t(c.varint());
                    continue;
                }
                if (field == profile_field::duration_nanos) {
                    out.duration_nanos = int64_t(c.varint());
                    continue;
                }
            } else if (wire == group_end) {
                bad("end of group outside a group");
            }
            skip_field(c, t, 0);
        }
        finish(out);
        return out;
    }

  private:
    void sample_type(Cursor c) { types_.push_back(two_int64s(c, value_type_field::type, value_type_field::unit, 1)); }

    void add_value(size_t &i, uint64_t v) {
        if (i == sums_.size()) sums_.push_back(0);
        sums_[i++] += v; // unsigned: wraps as the int64 sum does in two's complement
    }

    void sample(Cursor c) {
        size_t i = 0; // position in this sample's values
        while (!c.done()) {
            uint32_t t = c.tag();
            uint32_t field = t >> 3, wire = t & 7;
            if (field == sample_field::value && wire == length) {
                packed_varints(c.sub(), [&](uint64_t v) { add_value(i, v); });
            } else if (field == sample_field::value && wire == varint) {
                add_value(i, c.varint());
            } else if (field == sample_field::location_id && wire == length) {
                if (opts_.check_unread) check_packed_varints(c.sub());
                else c.sub();
            } else if (field == sample_field::label && wire == length) {
                if (opts_.check_unread || opts_.max_label_keys > 0) label(c.sub());
                else c.sub();
            } else {
                skip_field(c, t, 1);
            }
        }
    }

    void label(Cursor c) {
        auto [key, str] = two_int64s(c, label_field::key, label_field::str, 2);
        if (opts_.max_label_keys == 0 || key <= 0 || str <= 0) return;
        // The string table may come after the samples (Go writes it last), so which labels
        // index into it is known only at the end. Per key index, a label matters only if
        // its str index is below every earlier one of that key: the first label whose
        // index turns out valid is always among those.
        int64_t &lowest = lowest_str_for(key, str);
        if (lowest != str) {
            if (str >= lowest) return;
            lowest = str;
        }
        candidates_.push_back({key, str});
    }

    std::string_view text(int64_t index) const {
        return index >= 0 && uint64_t(index) < strings_.size() ? strings_[size_t(index)] : std::string_view();
    }

    void finish(PprofSummary &out) {
        out.sample_types.reserve(types_.size());
        for (size_t i = 0; i < types_.size(); ++i)
            out.sample_types.push_back({std::string(text(types_[i].first)), std::string(text(types_[i].second)),
                                        i < sums_.size() ? int64_t(sums_[i]) : 0});
        if (candidates_.empty()) return;
        const int64_t n = int64_t(strings_.size());
        std::unordered_map<int64_t, bool> key_done;
        for (auto &[key, str] : candidates_) {
            if (out.labels.size() >= opts_.max_label_keys) break;
            if (key >= n || str >= n || !key_done.try_emplace(key, true).second) continue;
            std::string_view k = text(key);
            bool seen = false;
            for (auto &l : out.labels) seen |= l.first == k;
            if (!seen) out.labels.emplace_back(std::string(k), std::string(text(str)));
        }
    }

    const PprofReadOptions &opts_;
    std::vector<std::string_view> strings_;
    std::vector<std::pair<int64_t, int64_t>> types_;
    std::vector<uint64_t> sums_;
    // The lowest str index seen per key index; `str` for a key seen first. A profile has a
    // handful of label keys and ~6 labels a sample: a short list searched in place beats a
    // hash map per label (most of the reader's time went there), the map takes the rest.
    int64_t &lowest_str_for(int64_t key, int64_t str) {
        for (auto &kv : recent_keys_)
            if (kv.first == key) return kv.second;
        if (recent_keys_.size() < kRecentKeys) return recent_keys_.emplace_back(key, str).second;
        return lowest_str_.try_emplace(key, str).first->second;
    }
    static constexpr size_t kRecentKeys = 16;
    std::vector<std::pair<int64_t, int64_t>> recent_keys_;
    std::unordered_map<int64_t, int64_t> lowest_str_;
    std::vector<std::pair<int64_t, int64_t>> candidates_;
};

} // namespace

PprofSummary read_pprof(std::string_view raw, const PprofReadOptions &options) { return Reader(options).read(raw); }

PprofSummary summarize_pprof(std::string_view maybe_compressed, const InflateLimit &limit,
                             const PprofReadOptions &options) {
    if (detect_codec(maybe_compressed) == Codec::none) {
        if (maybe_compressed.size() > limit.max_output)
            throw TooLargeError("plain output exceeds the limit of " + std::to_string(limit.max_output) + " bytes");
        return read_pprof(maybe_compressed, options);
    }
    Inflated raw = inflate(maybe_compressed, limit);
    return read_pprof(raw.data, options);
}

PprofSummary summarize_profile(const perftools::profiles::Profile &p, const PprofReadOptions &options) {
    auto text = [&](int64_t i) -> std::string {
        return i >= 0 && i < p.string_table_size() ? p.string_table(int(i)) : std::string();
    };
    PprofSummary out;
    out.time_nanos = p.time_nanos();
    out.duration_nanos = p.duration_nanos();
    for (int i = 0; i < p.sample_type_size(); ++i) {
        uint64_t sum = 0;
        for (auto &s : p.sample())
            if (i < s.value_size()) sum += uint64_t(s.value(i));
        out.sample_types.push_back({text(p.sample_type(i).type()), text(p.sample_type(i).unit()), int64_t(sum)});
    }
    if (options.max_label_keys == 0) return out;
    for (auto &s : p.sample())
        for (auto &l : s.label()) {
            if (out.labels.size() >= options.max_label_keys) return out;
            if (l.key() <= 0 || l.str() <= 0 || l.key() >= p.string_table_size() || l.str() >= p.string_table_size())
                continue;
            const std::string &k = p.string_table(int(l.key()));
            bool seen = false;
            for (auto &e : out.labels) seen |= e.first == k;
            if (!seen) out.labels.emplace_back(k, p.string_table(int(l.str())));
        }
    return out;
}

} // namespace trib::profiling
