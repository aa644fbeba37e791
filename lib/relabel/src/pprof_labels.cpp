// pprof sample-label rewriting at protobuf wire level (field numbers: google/pprof
// proto/profile.proto). Only Sample.label (Profile field 2, Sample field 3) is re-encoded;
// new strings are appended to the string table (field 6), so existing indices stay valid.
#include <tributary/relabel/relabel.hpp>

#include <tributary/compression.hpp>

#include <charconv>
#include <cstdio>
#include <unordered_map>

namespace trib::relabel {

namespace {

constexpr uint32_t kProfileSample = 2, kProfileStringTable = 6, kProfileTimeNanos = 9;
constexpr uint32_t kSampleLabel = 3;
constexpr uint32_t kLabelKey = 1, kLabelStr = 2, kLabelNum = 3, kLabelNumUnit = 4;

struct WireReader {
    const char *p, *end;
    explicit WireReader(std::string_view s) : p(s.data()), end(s.data() + s.size()) {}
    bool done() const { return p >= end; }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p >= end) throw PprofError("pprof: truncated varint");
            uint8_t b = uint8_t(*p++);
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        throw PprofError("pprof: varint too long");
    }
    // One field: its number, wire type, and for length-delimited fields the payload.
    struct Field {
        uint32_t number, wire;
        uint64_t value;
        std::string_view payload;
        std::string_view raw; // tag and value as they were
    };
    Field next() {
        const char *start = p;
        uint64_t tag = varint();
        Field f{uint32_t(tag >> 3), uint32_t(tag & 7), 0, {}, {}};
        switch (f.wire) {
        case 0: f.value = varint(); break;
        case 1: skip(8); break;
        case 5: skip(4); break;
        case 2: {
            uint64_t n = varint();
            if (n > uint64_t(end - p))
                throw PprofError("pprof: field " + std::to_string(f.number) + " runs past the end");
            f.payload = std::string_view(p, size_t(n));
            p += n;
            break;
        }
        default: throw PprofError("pprof: unsupported wire type " + std::to_string(f.wire));
        }
        if (f.number == 0) throw PprofError("pprof: field number 0");
        f.raw = std::string_view(start, size_t(p - start));
        return f;
    }
    void skip(size_t n) {
        if (size_t(end - p) < n) throw PprofError("pprof: truncated fixed-width field");
        p += n;
    }
};

void put_varint(std::string &out, uint64_t v) {
    while (v >= 0x80) {
        out += char(uint8_t(v) | 0x80);
        v >>= 7;
    }
    out += char(uint8_t(v));
}
void put_varint_field(std::string &out, uint32_t number, uint64_t v) {
    put_varint(out, uint64_t(number) << 3);
    put_varint(out, v);
}
void put_bytes_field(std::string &out, uint32_t number, std::string_view b) {
    put_varint(out, uint64_t(number) << 3 | 2);
    put_varint(out, b.size());
    out.append(b);
}

struct Transform {
    ValueFormat to;
    SourceFormat from;
};

// What the rules do to every label with one key (the rules look at names only).
struct KeyPlan {
    bool drop = false, identity = true, renamed = false;
    int64_t new_key = 0;
    std::vector<Transform> transforms;
};

struct Label {
    int64_t key = 0, str = 0, num = 0, num_unit = 0;
    std::string unknown; // fields a newer pprof may add, kept as they were
};

bool parse_u64(std::string_view s, SourceFormat f, uint64_t &v) {
    if (s.empty()) return false;
    if (f == SourceFormat::hex && s.size() > 16) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v, f == SourceFormat::hex ? 16 : 10);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

class Rewriter {
  public:
    Rewriter(std::string_view plain, const PprofEdit &edit, PprofRewriteStats &stats)
        : plain_(plain), edit_(edit), stats_(stats) {}

    std::string run() {
        WireReader scan(plain_);
        while (!scan.done()) {
            auto f = scan.next();
            if (f.number == kProfileStringTable && f.wire == 2) strings_.push_back(f.payload);
        }
        if (strings_.empty() || !strings_[0].empty()) throw PprofError("pprof: string table must start with \"\"");

        std::string out;
        out.reserve(plain_.size() + plain_.size() / 8);
        bool time_written = false;
        WireReader r(plain_);
        std::string sample;
        while (!r.done()) {
            auto f = r.next();
            if (f.number == kProfileSample && f.wire == 2 && has_rules()) {
                sample.clear();
                if (rewrite_sample(f.payload, sample)) {
                    put_bytes_field(out, kProfileSample, sample);
                    stats_.changed = true;
                    continue;
                }
            } else if (f.number == kProfileTimeNanos && f.wire == 0 && edit_.time_nanos) {
                put_varint_field(out, kProfileTimeNanos, uint64_t(*edit_.time_nanos));
                time_written = true;
                stats_.changed = true;
                continue;
            }
            out.append(f.raw);
        }
        for (auto &s : added_) put_bytes_field(out, kProfileStringTable, s);
        if (!added_.empty()) stats_.changed = true;
        if (edit_.time_nanos && !time_written) {
            put_varint_field(out, kProfileTimeNanos, uint64_t(*edit_.time_nanos));
            stats_.changed = true;
        }
        return out;
    }

  private:
    bool has_rules() const { return edit_.rules && !edit_.rules->empty(); }

    std::string_view string_at(int64_t i) const {
        if (i < 0) throw PprofError("pprof: negative string index");
        if (size_t(i) < strings_.size()) return strings_[size_t(i)];
        if (size_t(i) - strings_.size() < added_.size()) return added_[size_t(i) - strings_.size()];
        throw PprofError("pprof: string index " + std::to_string(i) + " past the string table");
    }

    int64_t intern(const std::string &s) {
        if (index_.empty()) {
            for (size_t i = 0; i < strings_.size(); ++i) index_.emplace(std::string(strings_[i]), int64_t(i));
        }
        auto it = index_.find(s);
        if (it != index_.end()) return it->second;
        int64_t idx = int64_t(strings_.size() + added_.size());
        added_.push_back(s);
        index_.emplace(s, idx);
        return idx;
    }

    const KeyPlan &plan_for(int64_t key) {
        auto it = plans_.find(key);
        if (it != plans_.end()) return it->second;
        KeyPlan plan;
        std::string name(string_at(key)), cur = name;
        for (auto &rule : *edit_.rules) {
            if (rule.action == PprofAction::labeldrop && rule.regex.match(cur)) plan.drop = true;
            else if (rule.action == PprofAction::labelkeep && !rule.regex.match(cur)) plan.drop = true;
            else if (rule.action == PprofAction::rename && cur == rule.source_label) {
                cur = rule.target_label;
                if (rule.value_format != ValueFormat::keep)
                    plan.transforms.push_back({rule.value_format, rule.source_format});
            }
            if (plan.drop) break;
        }
        plan.renamed = cur != name;
        plan.new_key = plan.renamed ? intern(cur) : key;
        plan.identity = !plan.drop && !plan.renamed && plan.transforms.empty();
        return plans_.emplace(key, std::move(plan)).first->second;
    }

    static Label read_label(std::string_view bytes) {
        Label l;
        WireReader r(bytes);
        while (!r.done()) {
            auto f = r.next();
            if (f.wire == 0 && f.number == kLabelKey) l.key = int64_t(f.value);
            else if (f.wire == 0 && f.number == kLabelStr) l.str = int64_t(f.value);
            else if (f.wire == 0 && f.number == kLabelNum) l.num = int64_t(f.value);
            else if (f.wire == 0 && f.number == kLabelNumUnit) l.num_unit = int64_t(f.value);
            else l.unknown.append(f.raw);
        }
        return l;
    }

    // Applies the value transforms; false (label left as it was) when a value cannot be read.
    bool transform(Label &l, const std::vector<Transform> &ts) {
        for (auto &t : ts) {
            uint64_t v;
            bool numeric = l.str == 0;
            if (numeric) v = uint64_t(l.num);
            else if (!parse_u64(string_at(l.str), t.from, v)) return false;
            if (t.to == ValueFormat::number) {
                l.num = int64_t(v);
                if (!numeric) l.num_unit = 0;
                l.str = 0;
            } else {
                char buf[24];
                int n = t.to == ValueFormat::hex16 ? std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v)
                                                   : std::snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
                l.str = intern(std::string(buf, size_t(n)));
                l.num = 0;
                l.num_unit = 0;
            }
        }
        return true;
    }

    // False when the sample stays as it was (out untouched then).
    bool rewrite_sample(std::string_view sample, std::string &out) {
        bool changed = false;
        WireReader r(sample);
        while (!r.done()) {
            auto f = r.next();
            if (f.number != kSampleLabel || f.wire != 2) {
                out.append(f.raw);
                continue;
            }
            Label l = read_label(f.payload);
            const KeyPlan &plan = plan_for(l.key);
            if (plan.identity) {
                out.append(f.raw);
                continue;
            }
            changed = true;
            if (plan.drop) {
                ++stats_.labels_dropped;
                continue;
            }
            if (!plan.transforms.empty()) {
                if (!transform(l, plan.transforms)) {
                    ++stats_.labels_unconvertible;
                    out.append(f.raw);
                    continue;
                }
                ++stats_.labels_reencoded;
            }
            if (plan.renamed) ++stats_.labels_renamed;
            l.key = plan.new_key;
            std::string enc;
            put_varint_field(enc, kLabelKey, uint64_t(l.key));
            if (l.str) put_varint_field(enc, kLabelStr, uint64_t(l.str));
            if (l.num) put_varint_field(enc, kLabelNum, uint64_t(l.num));
            if (l.num_unit) put_varint_field(enc, kLabelNumUnit, uint64_t(l.num_unit));
            enc += l.unknown;
            put_bytes_field(out, kSampleLabel, enc);
        }
        return changed;
    }

    std::string_view plain_;
    const PprofEdit &edit_;
    PprofRewriteStats &stats_;
    std::vector<std::string_view> strings_;
    std::vector<std::string> added_;
    std::unordered_map<std::string, int64_t> index_;
    std::unordered_map<int64_t, KeyPlan> plans_;
};

} // namespace

std::string rewrite_pprof(std::string_view data, const PprofEdit &edit, PprofRewriteStats *stats) {
    PprofRewriteStats local;
    PprofRewriteStats &st = stats ? *stats : local;
    st.changed = false;
    if ((!edit.rules || edit.rules->empty()) && !edit.time_nanos)
        return is_zstd(data) ? compression::gzip(decompress(data, edit.max_output), kRewriteGzipLevel)
                             : std::string(data); // nothing to do
    std::string plain = decompress(data, edit.max_output);
    std::string out = Rewriter(plain, edit, st).run();
    if (!st.changed) return is_zstd(data) ? compression::gzip(plain, kRewriteGzipLevel) : std::string(data);
    return compression::gzip(out, kRewriteGzipLevel);
}

} // namespace trib::relabel
