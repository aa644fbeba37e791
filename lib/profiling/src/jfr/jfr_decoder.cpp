// JFR 2.x decoding: chunk header, metadata (string table + element tree), constant-pool
// checkpoints (indexed, values parsed lazily and cached), events → pprof profiles.
#include "jfr_reader.hpp"

#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/jfr.hpp>

#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <optional>

namespace trib::profiling {
namespace jfr {
namespace {

constexpr size_t kHeaderSize = 68;
constexpr int kMaxDepth = 32;
constexpr int64_t kDefaultCpuIntervalNs = 10'000'000; // JDK profile.jfc and Pyroscope's default

Prim prim_of(std::string_view name) {
    if (name == "boolean") return Prim::boolean;
    if (name == "byte") return Prim::byte;
    if (name == "char") return Prim::chr;
    if (name == "short") return Prim::shrt;
    if (name == "int") return Prim::integer;
    if (name == "long") return Prim::lng;
    if (name == "float") return Prim::flt;
    if (name == "double") return Prim::dbl;
    if (name == "java.lang.String") return Prim::string;
    return Prim::none;
}

int64_t parse_int(std::string_view s, const char *what) {
    if (s.empty()) fail(std::string("metadata: empty ") + what);
    int64_t v = 0;
    bool neg = false;
    size_t i = 0;
    if (s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == s.size()) fail(std::string("metadata: bad ") + what);
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') fail(std::string("metadata: bad ") + what + " '" + std::string(s) + "'");
        v = v * 10 + (s[i] - '0');
        if (v > (int64_t(1) << 56)) fail(std::string("metadata: ") + what + " out of range");
    }
    return neg ? -v : v;
}

struct Element {
    size_t name = 0;
    std::vector<std::pair<size_t, size_t>> attrs;
    std::vector<Element> children;
};

struct PoolEntry {
    size_t offset, end;
};

struct FrameInfo {
    std::string function;
    int64_t line = 0;
};

struct EventRef {
    const ClassDesc *cls;
    size_t offset, end;
};

// One chunk: its metadata, its constant-pool index, caches of resolved entries.
class Chunk {
  public:
    Chunk(const uint8_t *data, size_t size) : data_(data), size_(size) {}

    void parse_header() {
        Reader r(data_, 0, size_, false);
        if (size_ < kHeaderSize) fail("chunk shorter than its header");
        auto magic = r.bytes(4);
        if (magic != std::string_view("FLR\0", 4)) fail("bad magic (not a JFR recording)");
        major_ = uint16_t(r.be(2));
        minor_ = uint16_t(r.be(2));
        if (major_ != 2 && major_ != 1)
            fail("unsupported version " + std::to_string(major_) + "." + std::to_string(minor_));
        r.be(8); // chunk size, checked by the caller
        cp_offset_ = int64_t(r.be(8));
        meta_offset_ = int64_t(r.be(8));
        start_ns_ = int64_t(r.be(8));
        duration_ns_ = int64_t(r.be(8));
        start_ticks_ = int64_t(r.be(8));
        ticks_per_sec_ = int64_t(r.be(8));
        uint32_t features = uint32_t(r.be(4));
        compressed_ = major_ >= 2 && (features & 1u);
        if (ticks_per_sec_ <= 0) fail("ticks per second must be positive");
        if (meta_offset_ < int64_t(kHeaderSize) || uint64_t(meta_offset_) >= size_)
            fail("metadata offset out of the chunk");
        budget_ = 32 * uint64_t(size_) + (1u << 20);
    }

    void parse_metadata() {
        Reader r(data_, size_t(meta_offset_), size_, compressed_);
        int64_t size = r.i32();
        if (size <= 0 || uint64_t(size) > size_ - size_t(meta_offset_)) fail("metadata record size out of the chunk");
        r = Reader(data_, r.pos(), size_t(meta_offset_) + size_t(size), compressed_);
        if (r.i64() != 0) fail("metadata record has the wrong type");
        r.i64(); // start
        r.i64(); // duration
        r.i64(); // metadata id
        size_t n = r.count();
        strings_.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            auto v = read_string(r, 0, /*allow_pool=*/false);
            strings_.push_back(v.kind == Value::Kind::string ? std::move(v.s) : std::string());
        }
        Element root = read_element(r, 0);
        for (auto &md : root.children) {
            if (str(md.name) != "metadata") continue;
            for (auto &cls : md.children)
                if (str(cls.name) == "class") add_class(cls);
        }
        if (classes_.empty()) fail("metadata describes no classes");
        for (auto &[id, c] : classes_) {
            if (c.name == "java.lang.String") string_type_ = id;
            by_name_[c.name] = &c;
            for (auto &f : c.fields)
                if (!classes_.count(f.type)) fail("field " + c.name + "." + f.name + " has an unknown type");
        }
    }

    // Walks every record: indexes constant pools, counts events, returns the events the
    // caller cares about.
    std::vector<EventRef> scan(JfrStats &stats, const std::vector<std::string> &wanted) {
        std::vector<EventRef> out;
        std::unordered_map<int64_t, bool> is_wanted;
        size_t pos = kHeaderSize;
        while (pos < size_) {
            Reader r(data_, pos, size_, compressed_);
            int64_t size = r.i32();
            if (size <= 0 || uint64_t(size) > size_ - pos) fail("event record size out of the chunk");
            size_t end = pos + size_t(size);
            Reader ev(data_, r.pos(), end, compressed_);
            int64_t type = ev.i64();
            if (type == 1) {
                index_checkpoint(ev);
            } else if (type != 0) {
                auto it = classes_.find(type);
                if (it == classes_.end()) fail("event of unknown type " + std::to_string(type));
                ++stats.event_counts[it->second.name];
                auto w = is_wanted.find(type);
                if (w == is_wanted.end())
                    w = is_wanted
                            .emplace(type, std::find(wanted.begin(), wanted.end(), it->second.name) != wanted.end())
                            .first;
                if (w->second) out.push_back(EventRef{&it->second, ev.pos(), end});
            }
            pos = end;
        }
        return out;
    }

    Value read_event(const EventRef &e) {
        Reader r(data_, e.offset, e.end, compressed_);
        return read_object(r, *e.cls, 0);
    }

    int64_t ticks_to_ns(int64_t ticks) const {
        __int128 d = __int128(ticks - start_ticks_) * 1'000'000'000 / ticks_per_sec_;
        return start_ns_ + int64_t(d);
    }
    int64_t span_to_ns(int64_t ticks) const { return int64_t(__int128(ticks) * 1'000'000'000 / ticks_per_sec_); }
    int64_t start_ns() const { return start_ns_; }
    int64_t end_ns() const { return start_ns_ + duration_ns_; }
    const ClassDesc *class_named(std::string_view n) const {
        auto it = by_name_.find(std::string(n));
        return it == by_name_.end() ? nullptr : it->second;
    }

    // A string value (inline or from the string pool).
    std::string text(const Value *v) {
        if (!v) return {};
        if (v->kind == Value::Kind::string) return v->s;
        if (v->kind == Value::Kind::ref) {
            const Value *pv = pool(v->ref_type, v->i);
            if (!pv) return {};
            if (pv->kind == Value::Kind::string) return pv->s;
            // jdk.types.Symbol and friends wrap the string in a one-field object.
            if (pv->kind == Value::Kind::object && pv->items.size() == 1 && pv->items[0].kind != Value::Kind::ref)
                return text(&pv->items[0]);
        }
        return {};
    }

    // The frames of a stack trace reference, leaf first (cached per key).
    const std::vector<FrameInfo> *stack(const Value *ref) {
        if (!ref || ref->kind != Value::Kind::ref) return nullptr;
        auto it = stacks_.find(ref->i);
        if (it != stacks_.end()) return &it->second;
        std::vector<FrameInfo> frames;
        const Value *st = pool(ref->ref_type, ref->i);
        if (const Value *fr = st ? st->field("frames") : nullptr; fr && fr->kind == Value::Kind::array) {
            frames.reserve(fr->items.size());
            for (auto &f : fr->items) {
                FrameInfo fi;
                fi.function = method_name(f.field("method"));
                if (const Value *ln = f.field("lineNumber")) fi.line = ln->as_int();
                frames.push_back(std::move(fi));
            }
        }
        return &stacks_.emplace(ref->i, std::move(frames)).first->second;
    }

  private:
    const std::string &str(size_t idx) const {
        if (idx >= strings_.size()) fail("metadata string index out of range");
        return strings_[idx];
    }

    Element read_element(Reader &r, int depth) {
        if (depth > 16) fail("metadata element tree too deep");
        Element e;
        e.name = size_t(r.i32());
        str(e.name);
        size_t na = r.count();
        e.attrs.reserve(na);
        for (size_t i = 0; i < na; ++i) {
            size_t k = size_t(r.i32()), v = size_t(r.i32());
            str(k);
            str(v);
            e.attrs.emplace_back(k, v);
        }
        size_t nc = r.count();
        e.children.reserve(nc);
        for (size_t i = 0; i < nc; ++i) e.children.push_back(read_element(r, depth + 1));
        return e;
    }

    std::string_view attr(const Element &e, std::string_view key) const {
        for (auto &[k, v] : e.attrs)
            if (str(k) == key) return str(v);
        return {};
    }

    void add_class(const Element &el) {
        ClassDesc c;
        c.id = parse_int(attr(el, "id"), "class id");
        c.name = std::string(attr(el, "name"));
        c.prim = prim_of(c.name);
        for (auto &fe : el.children) {
            if (str(fe.name) != "field") continue;
            FieldDesc f;
            f.name = std::string(attr(fe, "name"));
            f.type = parse_int(attr(fe, "class"), "field class");
            f.constant_pool = attr(fe, "constantPool") == "true";
            auto dim = attr(fe, "dimension");
            if (!dim.empty()) {
                int64_t d = parse_int(dim, "dimension");
                if (d > 1) fail("arrays of dimension " + std::to_string(d) + " are not supported");
                f.array = d == 1;
            }
            c.fields.push_back(std::move(f));
        }
        if (!classes_.emplace(c.id, std::move(c)).second) fail("class id defined twice in the metadata");
    }

    void spend() {
        if (budget_ == 0) fail("recording too complex for its size");
        --budget_;
    }

    Value read_string(Reader &r, int depth, bool allow_pool) {
        spend();
        Value v;
        uint8_t enc = r.u8();
        switch (enc) {
        case 0: v.kind = Value::Kind::null; break;
        case 1: v.kind = Value::Kind::string; break;
        case 2:
            if (!allow_pool || string_type_ < 0) fail("string pool reference where none is allowed");
            v.kind = Value::Kind::ref;
            v.ref_type = string_type_;
            v.i = r.i64();
            break;
        case 3:
        case 5: { // UTF-8, Latin-1
            size_t n = r.count();
            auto b = r.bytes(n);
            v.kind = Value::Kind::string;
            if (enc == 3) v.s.assign(b);
            else {
                v.s.reserve(n);
                for (unsigned char ch : b) append_utf8(v.s, ch);
            }
            break;
        }
        case 4: { // UTF-16 code units
            size_t n = r.count();
            v.kind = Value::Kind::string;
            v.s.reserve(n);
            for (size_t i = 0; i < n; ++i) {
                uint32_t cu = uint16_t(r.i16());
                if (cu >= 0xD800 && cu < 0xDC00 && i + 1 < n) {
                    size_t save = r.pos();
                    uint32_t lo = uint16_t(r.i16());
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        append_utf8(v.s, 0x10000 + ((cu - 0xD800) << 10) + (lo - 0xDC00));
                        ++i;
                        continue;
                    }
                    (void)save;
                    append_utf8(v.s, 0xFFFD);
                    append_utf8(v.s, lo);
                    ++i;
                    continue;
                }
                append_utf8(v.s, cu);
            }
            break;
        }
        default: fail("unknown string encoding " + std::to_string(enc));
        }
        (void)depth;
        return v;
    }

    Value read_value(Reader &r, int64_t type, bool cp, bool array, int depth) {
        if (depth > kMaxDepth) fail("values nested too deep");
        spend();
        Value v;
        if (array) {
            size_t n = r.count();
            v.kind = Value::Kind::array;
            v.items.reserve(n);
            for (size_t i = 0; i < n; ++i) v.items.push_back(read_value(r, type, cp, false, depth + 1));
            return v;
        }
        if (cp) {
            v.kind = Value::Kind::ref;
            v.ref_type = type;
            v.i = r.i64();
            return v;
        }
        auto it = classes_.find(type);
        if (it == classes_.end()) fail("value of unknown type " + std::to_string(type));
        const ClassDesc &c = it->second;
        switch (c.prim) {
        case Prim::boolean:
        case Prim::byte:
            v.kind = Value::Kind::integer;
            v.i = int8_t(r.u8());
            if (c.prim == Prim::boolean) v.i = v.i != 0;
            break;
        case Prim::chr:
            v.kind = Value::Kind::integer;
            v.i = uint16_t(r.i16());
            break;
        case Prim::shrt:
            v.kind = Value::Kind::integer;
            v.i = r.i16();
            break;
        case Prim::integer:
            v.kind = Value::Kind::integer;
            v.i = r.i32();
            break;
        case Prim::lng:
            v.kind = Value::Kind::integer;
            v.i = r.i64();
            break;
        case Prim::flt:
            v.kind = Value::Kind::floating;
            v.f = r.f32();
            break;
        case Prim::dbl:
            v.kind = Value::Kind::floating;
            v.f = r.f64();
            break;
        case Prim::string: return read_string(r, depth, true);
        case Prim::none: return read_object(r, c, depth + 1);
        }
        return v;
    }

    Value read_object(Reader &r, const ClassDesc &c, int depth) {
        if (depth > kMaxDepth) fail("values nested too deep");
        Value v;
        v.kind = Value::Kind::object;
        v.cls = &c;
        v.items.reserve(c.fields.size());
        for (auto &f : c.fields) v.items.push_back(read_value(r, f.type, f.constant_pool, f.array, depth + 1));
        return v;
    }

    void skip_value(Reader &r, int64_t type, bool cp, bool array, int depth) {
        if (depth > kMaxDepth) fail("values nested too deep");
        spend();
        if (array) {
            size_t n = r.count();
            for (size_t i = 0; i < n; ++i) skip_value(r, type, cp, false, depth + 1);
            return;
        }
        if (cp) {
            r.i64();
            return;
        }
        auto it = classes_.find(type);
        if (it == classes_.end()) fail("value of unknown type " + std::to_string(type));
        const ClassDesc &c = it->second;
        switch (c.prim) {
        case Prim::boolean:
        case Prim::byte: r.u8(); break;
        case Prim::chr:
        case Prim::shrt: r.i16(); break;
        case Prim::integer: r.i32(); break;
        case Prim::lng: r.i64(); break;
        case Prim::flt: r.skip(4); break;
        case Prim::dbl: r.skip(8); break;
        case Prim::string: {
            uint8_t enc = r.u8();
            if (enc == 2) r.i64();
            else if (enc == 3 || enc == 5) r.skip(r.count());
            else if (enc == 4) {
                size_t n = r.count();
                for (size_t i = 0; i < n; ++i) r.i16();
            } else if (enc > 5) fail("unknown string encoding " + std::to_string(enc));
            break;
        }
        case Prim::none:
            for (auto &f : c.fields) skip_value(r, f.type, f.constant_pool, f.array, depth + 1);
            break;
        }
    }

    // A checkpoint: start, duration, delta to the previous one, type mask (flush flag in
    // JDK 11), then pools of (type, count, [key, value]...). Every checkpoint of the
    // chunk is visited by the linear scan, so the delta chain needs no separate walk.
    void index_checkpoint(Reader &r) {
        r.i64(); // start
        r.i64(); // duration
        r.i64(); // delta
        r.u8();  // type mask / flush
        size_t pools = r.count();
        for (size_t p = 0; p < pools; ++p) {
            int64_t type = r.i64();
            if (!classes_.count(type)) fail("constant pool of unknown type " + std::to_string(type));
            size_t n = r.count();
            auto &index = pools_[type];
            for (size_t i = 0; i < n; ++i) {
                int64_t key = r.i64();
                size_t off = r.pos();
                skip_value(r, type, false, false, 0);
                index[key] = PoolEntry{off, r.end()};
            }
        }
    }

    const Value *pool(int64_t type, int64_t key) {
        auto &cache = pool_cache_[type];
        if (auto it = cache.find(key); it != cache.end()) return it->second.get();
        std::unique_ptr<Value> v;
        auto pt = pools_.find(type);
        if (pt != pools_.end()) {
            auto e = pt->second.find(key);
            if (e != pt->second.end()) {
                Reader r(data_, e->second.offset, e->second.end, compressed_);
                v = std::make_unique<Value>(read_value(r, type, false, false, 0));
            }
        }
        const Value *raw = v.get();
        cache.emplace(key, std::move(v));
        return raw;
    }

    static std::string dotted(std::string s) {
        std::replace(s.begin(), s.end(), '/', '.');
        return s;
    }

    std::string method_name(const Value *ref) {
        if (!ref || ref->kind != Value::Kind::ref) return "unknown";
        if (auto it = methods_.find(ref->i); it != methods_.end()) return it->second;
        std::string name = "unknown";
        if (const Value *m = pool(ref->ref_type, ref->i)) {
            std::string cls;
            if (const Value *t = m->field("type"); t && t->kind == Value::Kind::ref)
                if (const Value *c = pool(t->ref_type, t->i)) cls = dotted(text(c->field("name")));
            std::string meth = text(m->field("name"));
            if (!meth.empty()) name = cls.empty() ? meth : cls + "." + meth;
        }
        methods_.emplace(ref->i, name);
        return name;
    }

    const uint8_t *data_;
    size_t size_;
    uint16_t major_ = 0, minor_ = 0;
    int64_t cp_offset_ = 0, meta_offset_ = 0, start_ns_ = 0, duration_ns_ = 0, start_ticks_ = 0, ticks_per_sec_ = 1;
    bool compressed_ = false;
    uint64_t budget_ = 0;
    std::vector<std::string> strings_;
    std::unordered_map<int64_t, ClassDesc> classes_;
    std::unordered_map<std::string, const ClassDesc *> by_name_;
    int64_t string_type_ = -1;
    std::unordered_map<int64_t, std::unordered_map<int64_t, PoolEntry>> pools_;
    std::unordered_map<int64_t, std::unordered_map<int64_t, std::unique_ptr<Value>>> pool_cache_;
    std::unordered_map<int64_t, std::vector<FrameInfo>> stacks_;
    std::unordered_map<int64_t, std::string> methods_;
};

// Builds one pprof profile; identical (stack, labels) samples are merged.
class PprofBuilder {
  public:
    PprofBuilder(std::vector<std::pair<std::string, std::string>> types,
                 std::pair<std::string, std::string> period_type)
        : nvalues_(types.size()) {
        str("");
        for (auto &[t, u] : types) {
            auto *vt = p_.add_sample_type();
            vt->set_type(str(t));
            vt->set_unit(str(u));
        }
        p_.mutable_period_type()->set_type(str(period_type.first));
        p_.mutable_period_type()->set_unit(str(period_type.second));
    }

    void add(const std::vector<FrameInfo> &frames, const std::vector<std::pair<std::string, std::string>> *labels,
             const std::vector<int64_t> &values) {
        std::string key;
        std::vector<uint64_t> locs;
        locs.reserve(frames.size());
        for (auto &f : frames) locs.push_back(location(f));
        key.append(reinterpret_cast<const char *>(locs.data()), locs.size() * sizeof(uint64_t));
        key.push_back('\0');
        if (labels) key.append(reinterpret_cast<const char *>(&labels), sizeof labels);
        auto it = samples_.find(key);
        perftools::profiles::Sample *s;
        if (it == samples_.end()) {
            s = p_.add_sample();
            for (auto id : locs) s->add_location_id(id);
            for (size_t i = 0; i < nvalues_; ++i) s->add_value(0);
            if (labels)
                for (auto &[k, v] : *labels) {
                    auto *l = s->add_label();
                    l->set_key(str(k));
                    l->set_str(str(v));
                }
            samples_.emplace(std::move(key), p_.sample_size() - 1);
        } else {
            s = p_.mutable_sample(it->second);
        }
        for (size_t i = 0; i < nvalues_ && i < values.size(); ++i) s->set_value(int(i), s->value(int(i)) + values[i]);
    }

    bool empty() const { return p_.sample_size() == 0; }

    perftools::profiles::Profile finish(int64_t start_ns, int64_t end_ns, int64_t period) {
        p_.set_time_nanos(start_ns);
        p_.set_duration_nanos(end_ns > start_ns ? end_ns - start_ns : 0);
        p_.set_period(period);
        return std::move(p_);
    }
    perftools::profiles::Profile &profile() { return p_; }

  private:
    int64_t str(const std::string &s) {
        auto it = strings_.find(s);
        if (it != strings_.end()) return it->second;
        int64_t id = p_.string_table_size();
        p_.add_string_table(s);
        strings_.emplace(s, id);
        return id;
    }
    uint64_t location(const FrameInfo &f) {
        uint64_t fid;
        if (auto it = functions_.find(f.function); it != functions_.end()) fid = it->second;
        else {
            fid = uint64_t(p_.function_size()) + 1;
            auto *fn = p_.add_function();
            fn->set_id(fid);
            fn->set_name(str(f.function));
            fn->set_system_name(fn->name());
            functions_.emplace(f.function, fid);
        }
        auto key = std::make_pair(fid, f.line);
        if (auto it = locations_.find(key); it != locations_.end()) return it->second;
        uint64_t lid = uint64_t(p_.location_size()) + 1;
        auto *loc = p_.add_location();
        loc->set_id(lid);
        auto *line = loc->add_line();
        line->set_function_id(fid);
        line->set_line(f.line);
        locations_.emplace(key, lid);
        return lid;
    }

    size_t nvalues_;
    perftools::profiles::Profile p_;
    std::unordered_map<std::string, int64_t> strings_;
    std::unordered_map<std::string, uint64_t> functions_;
    std::map<std::pair<uint64_t, int64_t>, uint64_t> locations_;
    std::unordered_map<std::string, int> samples_;
};

int64_t parse_period_ns(std::string_view v) {
    // "10 ms", "20 ms", "1 s", "100 us", "1000000 ns"; anything else (everyChunk, ...) = 0.
    size_t i = 0;
    int64_t n = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
        n = n * 10 + (v[i] - '0');
        if (n > (int64_t(1) << 40)) return 0;
        ++i;
    }
    if (i == 0) return 0;
    while (i < v.size() && v[i] == ' ') ++i;
    auto unit = v.substr(i);
    if (unit == "ns") return n;
    if (unit == "us" || unit == "µs") return n * 1000;
    if (unit == "ms") return n * 1'000'000;
    if (unit == "s") return n * 1'000'000'000;
    if (unit == "m" || unit == "min") return n * 60'000'000'000;
    return 0;
}

void keep_max(int64_t &slot, int64_t v) { slot = std::max(slot, v); }

const std::vector<std::string> kWanted = {
    "jdk.ExecutionSample",
    "jdk.ObjectAllocationSample",
    "jdk.ObjectAllocationInNewTLAB",
    "jdk.ObjectAllocationOutsideTLAB",
    "jdk.JavaMonitorEnter",
    "jdk.ThreadPark",
    "jdk.ActiveSetting",
    "jdk.ClassLoadingStatistics",
    "jdk.Compilation",
    "jdk.ThreadContextSwitchRate",
    "jdk.ExceptionStatistics",
    "jdk.FileRead",
    "jdk.FileWrite",
    "jdk.SocketRead",
    "jdk.SocketWrite",
    "jdk.GarbageCollection",
    "jdk.GCPhasePause",
    "jdk.GCHeapSummary",
    "jdk.ThreadStart",
    "jdk.JVMInformation",
};

struct Decoder {
    const LabelsSnapshotView *labels;
    JfrProfiles out;
    PprofBuilder cpu{{{"samples", "count"}, {"cpu", "nanoseconds"}}, {"cpu", "nanoseconds"}};
    PprofBuilder alloc{{{"alloc_samples", "count"}, {"alloc_space", "bytes"}}, {"space", "bytes"}};
    PprofBuilder lock{{{"contentions", "count"}, {"delay", "nanoseconds"}}, {"contentions", "count"}};
    bool first_class_stats = true, first_exception_stats = true;

    const std::vector<std::pair<std::string, std::string>> *context_of(const Value &ev) const {
        if (!labels) return nullptr;
        const Value *c = ev.field("contextId");
        return c ? labels->context(c->as_int()) : nullptr;
    }

    void chunk(Chunk &c) {
        JfrStats &st = out.stats;
        auto events = c.scan(st, kWanted);
        const ClassDesc *exec = c.class_named("jdk.ExecutionSample");
        bool has_alloc_sample = std::any_of(events.begin(), events.end(), [](const EventRef &e) {
            return e.cls->name == "jdk.ObjectAllocationSample";
        });
        static const std::vector<FrameInfo> kNoFrames;
        for (auto &e : events) {
            Value ev = c.read_event(e);
            const std::string &name = e.cls->name;
            auto dur_ns = [&] {
                const Value *d = ev.field("duration");
                return d ? c.span_to_ns(d->as_int()) : 0;
            };
            auto frames = [&]() -> const std::vector<FrameInfo> & {
                const auto *s = c.stack(ev.field("stackTrace"));
                return s ? *s : kNoFrames;
            };
            if (name == "jdk.ExecutionSample") {
                ++st.execution_samples;
                cpu.add(frames(), context_of(ev), {1, 0});
            } else if (name == "jdk.ObjectAllocationSample" ||
                       (!has_alloc_sample &&
                        (name == "jdk.ObjectAllocationInNewTLAB" || name == "jdk.ObjectAllocationOutsideTLAB"))) {
                const char *weight_field = name == "jdk.ObjectAllocationSample"      ? "weight"
                                           : name == "jdk.ObjectAllocationInNewTLAB" ? "tlabSize"
                                                                                     : "allocationSize";
                const Value *w = ev.field(weight_field);
                int64_t bytes = w ? std::max<int64_t>(0, w->as_int()) : 0;
                ++st.alloc_events;
                st.alloc_bytes += bytes;
                alloc.add(frames(), context_of(ev), {1, bytes});
            } else if (name == "jdk.JavaMonitorEnter" || name == "jdk.ThreadPark") {
                int64_t d = std::max<int64_t>(0, dur_ns());
                if (name == "jdk.JavaMonitorEnter") {
                    ++st.monitor_enter_count;
                    st.monitor_enter_total_ns += d;
                    keep_max(st.monitor_enter_max_ns, d);
                } else {
                    ++st.park_count;
                    st.park_total_ns += d;
                }
                lock.add(frames(), context_of(ev), {1, d});
            } else if (name == "jdk.ActiveSetting") {
                const Value *id = ev.field("id");
                std::string sname = c.text(ev.field("name"));
                if (exec && id && id->as_int() == exec->id && (sname == "period" || sname == "interval")) {
                    int64_t p = parse_period_ns(c.text(ev.field("value")));
                    if (p > 0) st.cpu_interval_ns = p;
                }
            } else if (name == "jdk.ClassLoadingStatistics") {
                int64_t n = ev.field("loadedClassCount") ? ev.field("loadedClassCount")->as_int() : 0;
                if (!st.class_loading_seen) st.classes_loaded_first = n;
                st.class_loading_seen = true;
                st.classes_loaded_last = n;
            } else if (name == "jdk.Compilation") {
                st.compilation_seen = true;
                st.compilation_total_ns += std::max<int64_t>(0, dur_ns());
            } else if (name == "jdk.ThreadContextSwitchRate") {
                ++st.context_switch_events;
                if (const Value *r = ev.field("switchRate")) st.context_switch_rate_sum += r->as_double();
            } else if (name == "jdk.ExceptionStatistics") {
                int64_t n = ev.field("throwables") ? ev.field("throwables")->as_int() : 0;
                if (!st.exception_stats_seen) st.throwables_first = n;
                st.exception_stats_seen = true;
                st.throwables_last = n;
            } else if (name == "jdk.FileRead" || name == "jdk.FileWrite" || name == "jdk.SocketRead" ||
                       name == "jdk.SocketWrite") {
                bool read = name == "jdk.FileRead" || name == "jdk.SocketRead";
                bool file = name[4] == 'F';
                const Value *b = ev.field(read ? "bytesRead" : "bytesWritten");
                int64_t bytes = b ? std::max<int64_t>(0, b->as_int()) : 0, d = std::max<int64_t>(0, dur_ns());
                int64_t *cnt, *maxns, *totns, *maxb, *totb;
                if (file && read) {
                    cnt = &st.file_read_count;
                    maxns = &st.file_read_max_ns;
                    totns = &st.file_read_total_ns;
                    maxb = &st.file_read_max_bytes;
                    totb = &st.file_read_bytes;
                } else if (file) {
                    cnt = &st.file_write_count;
                    maxns = &st.file_write_max_ns;
                    totns = &st.file_write_total_ns;
                    maxb = &st.file_write_max_bytes;
                    totb = &st.file_write_bytes;
                } else if (read) {
                    cnt = &st.socket_read_count;
                    maxns = &st.socket_read_max_ns;
                    totns = &st.socket_read_total_ns;
                    maxb = &st.socket_read_max_bytes;
                    totb = &st.socket_read_bytes;
                } else {
                    cnt = &st.socket_write_count;
                    maxns = &st.socket_write_max_ns;
                    totns = &st.socket_write_total_ns;
                    maxb = &st.socket_write_max_bytes;
                    totb = &st.socket_write_bytes;
                }
                ++*cnt;
                keep_max(*maxns, d);
                *totns += d;
                keep_max(*maxb, bytes);
                *totb += bytes;
            } else if (name == "jdk.GarbageCollection") {
                ++st.gc_count;
                const Value *p = ev.field("sumOfPauses");
                st.gc_total_ns += std::max<int64_t>(0, p ? c.span_to_ns(p->as_int()) : dur_ns());
            } else if (name == "jdk.GCPhasePause") {
                int64_t d = std::max<int64_t>(0, dur_ns());
                ++st.gc_pause_count;
                st.gc_pause_total_ns += d;
                keep_max(st.gc_pause_max_ns, d);
            } else if (name == "jdk.GCHeapSummary") {
                if (const Value *h = ev.field("heapUsed")) {
                    st.heap_summary_seen = true;
                    st.heap_used_last = h->as_int();
                }
            } else if (name == "jdk.ThreadStart") {
                ++st.thread_starts;
            } else if (name == "jdk.JVMInformation") {
                if (const Value *t = ev.field("jvmStartTime"))
                    st.jvm_start_ns = t->as_int() * 1'000'000; // ms since epoch
            }
        }
    }
};

} // namespace
} // namespace jfr

JfrProfiles decode_jfr(std::string_view raw_or_compressed, const LabelsSnapshotView *labels,
                       const InflateLimit &limit) {
    Inflated owned;
    std::string_view data = raw_or_compressed;
    if (detect_codec(data) != Codec::none) {
        owned = inflate(data, limit);
        data = owned.data;
    }
    const auto *bytes = reinterpret_cast<const uint8_t *>(data.data());
    if (data.size() < jfr::kHeaderSize) jfr::fail("input shorter than a chunk header");

    jfr::Decoder dec;
    dec.labels = labels;
    int64_t start = INT64_MAX, end = INT64_MIN;
    size_t pos = 0;
    while (pos < data.size()) {
        if (data.size() - pos < jfr::kHeaderSize) jfr::fail("trailing bytes after the last chunk");
        jfr::Reader r(bytes, pos + 8, data.size(), false);
        int64_t chunk_size = int64_t(r.be(8));
        if (chunk_size < int64_t(jfr::kHeaderSize) || uint64_t(chunk_size) > data.size() - pos)
            jfr::fail("chunk size " + std::to_string(chunk_size) + " out of the file (unfinished recording?)");
        jfr::Chunk chunk(bytes + pos, size_t(chunk_size));
        chunk.parse_header();
        chunk.parse_metadata();
        dec.chunk(chunk);
        start = std::min(start, chunk.start_ns());
        end = std::max(end, chunk.end_ns());
        ++dec.out.stats.chunks;
        pos += size_t(chunk_size);
    }
    JfrProfiles &out = dec.out;
    out.start_ns = start;
    out.end_ns = end;
    int64_t interval = out.stats.cpu_interval_ns > 0 ? out.stats.cpu_interval_ns : jfr::kDefaultCpuIntervalNs;
    for (auto &s : *dec.cpu.profile().mutable_sample()) s.set_value(1, s.value(0) * interval);
    out.has_cpu = !dec.cpu.empty();
    out.has_alloc = !dec.alloc.empty();
    out.has_lock = !dec.lock.empty();
    out.cpu = dec.cpu.finish(start, end, interval);
    out.alloc = dec.alloc.finish(start, end, 0);
    out.lock = dec.lock.finish(start, end, 0);
    return std::move(dec.out);
}

std::vector<std::pair<std::string, double>> jvm_metrics(const JfrProfiles &p, double duration_s) {
    std::vector<std::pair<std::string, double>> m;
    const JfrStats &s = p.stats;
    if (!(duration_s > 0)) duration_s = double(p.end_ns - p.start_ns) / 1e9;
    if (!(duration_s > 0)) return m;
    auto has = [&](const char *ev) {
        auto it = s.event_counts.find(ev);
        return it != s.event_counts.end() && it->second > 0;
    };
    auto add = [&](const char *name, double v) { m.emplace_back(std::string("prof_jvm_") + name, v); };
    int64_t interval = s.cpu_interval_ns > 0 ? s.cpu_interval_ns : jfr::kDefaultCpuIntervalNs;

    if (has("jdk.ExecutionSample")) add("cpu_cores", double(s.execution_samples) * double(interval) / 1e9 / duration_s);
    if (s.alloc_events > 0) {
        add("alloc_bytes_total", double(s.alloc_bytes));
        add("alloc_bytes_per_sec", double(s.alloc_bytes) / duration_s);
        add("allocs_per_sec", double(s.alloc_events) / duration_s);
    }
    if (s.class_loading_seen)
        add("class_loads_per_sec", double(s.classes_loaded_last - s.classes_loaded_first) / duration_s);
    if (s.compilation_seen) add("compilation_time", double(s.compilation_total_ns));
    if (s.context_switch_events > 0)
        add("context_switches_per_sec", s.context_switch_rate_sum / double(s.context_switch_events));
    if (s.exception_stats_seen) {
        double t = double(s.throwables_last - s.throwables_first);
        add("throws_total", t);
        add("throws_per_sec", t / duration_s);
    }
    if (s.file_read_count || s.file_write_count) {
        add("file_io_max_read_time", double(s.file_read_max_ns));
        add("file_io_max_read_bytes", double(s.file_read_max_bytes));
        add("file_io_read_time", double(s.file_read_total_ns));
        add("file_io_read_bytes", double(s.file_read_bytes));
        add("file_io_max_write_time", double(s.file_write_max_ns));
        add("file_io_max_write_bytes", double(s.file_write_max_bytes));
        add("file_io_write_time", double(s.file_write_total_ns));
        add("file_io_write_bytes", double(s.file_write_bytes));
        add("file_io_time", double(s.file_read_total_ns + s.file_write_total_ns));
    }
    if (s.socket_read_count || s.socket_write_count) {
        add("socket_io_max_read_time", double(s.socket_read_max_ns));
        add("socket_io_max_read_bytes", double(s.socket_read_max_bytes));
        add("socket_io_read_time", double(s.socket_read_total_ns));
        add("socket_io_read_bytes", double(s.socket_read_bytes));
        add("socket_io_max_write_time", double(s.socket_write_max_ns));
        add("socket_io_max_write_bytes", double(s.socket_write_max_bytes));
        add("socket_io_write_time", double(s.socket_write_total_ns));
        add("socket_io_write_bytes", double(s.socket_write_bytes));
    }
    if (s.gc_count > 0) add("avg_gc_pause_time", double(s.gc_total_ns) / double(s.gc_count));
    if (s.gc_pause_count > 0 || has("jdk.GarbageCollection")) {
        add("max_gc_pause_time", double(s.gc_pause_max_ns));
        add("gc_pause_time", double(s.gc_pause_total_ns));
        add("gc_pauses_per_sec", double(s.gc_pause_count) / duration_s);
    }
    if (s.heap_summary_seen) add("lifetime_heap_bytes", double(s.heap_used_last));
    if (s.monitor_enter_count > 0 || has("jdk.JavaMonitorEnter")) {
        add("locks_max_wait_time", double(s.monitor_enter_max_ns));
        add("locks_per_sec", double(s.monitor_enter_count) / duration_s);
    }
    if (has("jdk.ThreadStart")) add("threads_created_per_sec", double(s.thread_starts) / duration_s);
    if (s.jvm_start_ns > 0 && p.end_ns > s.jvm_start_ns) add("uptime_nanoseconds", double(p.end_ns - s.jvm_start_ns));
    return m;
}

} // namespace trib::profiling
