// Internal to the JFR decoder: a bounds-checked big-endian / LEB128 reader and the
// chunk model (metadata classes, constant-pool index, generic values).
#pragma once

#include <tributary/profiling/errors.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trib::profiling::jfr {

[[noreturn]] inline void fail(const std::string &msg) { throw DecodeError("jfr: " + msg); }

class Reader {
  public:
    // A record whose size field claims less than the field itself took would start past its
    // own end: refused here, so remaining() never wraps around.
    Reader(const uint8_t *data, size_t pos, size_t end, bool compressed)
        : data_(data), pos_(pos), end_(end), compressed_(compressed) {
        if (pos_ > end_) fail("record size smaller than its own header");
    }

    size_t pos() const { return pos_; }
    size_t end() const { return end_; }
    size_t remaining() const { return end_ - pos_; }
    bool compressed() const { return compressed_; }

    uint8_t u8() {
        need(1);
        return data_[pos_++];
    }
    uint64_t be(int n) {
        need(size_t(n));
        uint64_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + size_t(i)];
        pos_ += size_t(n);
        return v;
    }
    // JFR's LEB128: 7 bits per byte for 8 bytes, the 9th byte carries 8 full bits.
    int64_t varlong() {
        uint64_t r = 0;
        for (int i = 0; i < 8; ++i) {
            uint8_t b = u8();
            r |= uint64_t(b & 0x7f) << (7 * i);
            if (!(b & 0x80)) return int64_t(r);
        }
        r |= uint64_t(u8()) << 56;
        return int64_t(r);
    }
    int64_t i64() { return compressed_ ? varlong() : int64_t(be(8)); }
    int32_t i32() { return compressed_ ? int32_t(varlong()) : int32_t(uint32_t(be(4))); }
    int16_t i16() { return compressed_ ? int16_t(varlong()) : int16_t(uint16_t(be(2))); }
    float f32() {
        uint32_t u = uint32_t(be(4));
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }
    double f64() {
        uint64_t u = be(8);
        double d;
        std::memcpy(&d, &u, sizeof d);
        return d;
    }
    std::string_view bytes(size_t n) {
        need(n);
        std::string_view v(reinterpret_cast<const char *>(data_ + pos_), n);
        pos_ += n;
        return v;
    }
    void skip(size_t n) {
        need(n);
        pos_ += n;
    }
    // A length or element count: never negative, never more than the bytes left (each
    // element takes at least one byte), which bounds every allocation by the input.
    size_t count() {
        int64_t n = i32();
        if (n < 0 || uint64_t(n) > remaining()) fail("count " + std::to_string(n) + " exceeds the data left");
        return size_t(n);
    }

  private:
    void need(size_t n) const {
        if (end_ - pos_ < n) fail("truncated record");
    }
    const uint8_t *data_;
    size_t pos_, end_;
    bool compressed_;
};

enum class Prim : uint8_t { none, boolean, byte, chr, shrt, integer, lng, flt, dbl, string };

struct FieldDesc {
    std::string name;
    int64_t type = 0;
    bool constant_pool = false;
    bool array = false;
};

struct ClassDesc {
    int64_t id = 0;
    std::string name;
    Prim prim = Prim::none;
    std::vector<FieldDesc> fields;
    int field_index(std::string_view n) const {
        for (size_t i = 0; i < fields.size(); ++i)
            if (fields[i].name == n) return int(i);
        return -1;
    }
};

// A decoded value: primitives, strings, constant-pool references (kind ref, `i` = key,
// `ref_type` = pool type), inline objects (items in field order) and arrays.
struct Value {
    enum class Kind : uint8_t { null, integer, floating, string, ref, object, array } kind = Kind::null;
    int64_t i = 0;
    double f = 0;
    int64_t ref_type = 0;
    std::string s;
    const ClassDesc *cls = nullptr;
    std::vector<Value> items;

    const Value *field(std::string_view name) const {
        if (kind != Kind::object || !cls) return nullptr;
        int idx = cls->field_index(name);
        return idx < 0 || size_t(idx) >= items.size() ? nullptr : &items[size_t(idx)];
    }
    int64_t as_int(int64_t def = 0) const {
        if (kind == Kind::integer) return i;
        if (kind == Kind::floating) return int64_t(f);
        return def;
    }
    double as_double(double def = 0) const {
        if (kind == Kind::floating) return f;
        if (kind == Kind::integer) return double(i);
        return def;
    }
};

} // namespace trib::profiling::jfr
