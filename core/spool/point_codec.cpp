#include "point_codec.hpp"

#include <cstring>
#include <limits>

namespace trib::core {
namespace {

constexpr char kMagic[3] = {'T', 'P', 'B'};

void put_u8(std::string &out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u32(std::string &out, uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    out.append(b, 4);
}
void put_u64(std::string &out, uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    out.append(b, 8);
}
void put_str(std::string &out, std::string_view s) {
    if (s.size() > std::numeric_limits<uint32_t>::max()) throw PointCodecError("string longer than 4 GiB");
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.append(s.data(), s.size());
}
uint32_t count32(size_t n, const char *what) {
    if (n > std::numeric_limits<uint32_t>::max()) throw PointCodecError(std::string("too many ") + what);
    return static_cast<uint32_t>(n);
}

class Reader {
  public:
    explicit Reader(std::string_view b) : b_(b) {}
    uint8_t u8() {
        need(1, "u8");
        return static_cast<uint8_t>(b_[pos_++]);
    }
    uint32_t u32() {
        need(4, "u32");
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= uint32_t(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
        pos_ += 4;
        return v;
    }
    uint64_t u64() {
        need(8, "u64");
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
        pos_ += 8;
        return v;
    }
    std::string str(const char *what) {
        uint32_t n = u32();
        need(n, what);
        std::string s(b_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    // A count of items that each take at least min_item_bytes: bounded by what is left,
    // so a corrupt count cannot make the decoder reserve gigabytes.
    uint32_t count(size_t min_item_bytes, const char *what) {
        uint32_t n = u32();
        if (min_item_bytes && n > remaining() / min_item_bytes)
            throw PointCodecError(std::string("point batch: ") + what + " count " + std::to_string(n) +
                                  " exceeds the remaining " + std::to_string(remaining()) + " bytes");
        return n;
    }
    size_t remaining() const { return b_.size() - pos_; }
    size_t pos() const { return pos_; }

  private:
    void need(size_t n, const char *what) {
        if (n > remaining())
            throw PointCodecError(std::string("point batch truncated reading ") + what + " at byte " +
                                  std::to_string(pos_) + " (need " + std::to_string(n) + ", have " +
                                  std::to_string(remaining()) + ")");
    }
    std::string_view b_;
    size_t pos_ = 0;
};

} // namespace

void append_encoded_points(std::string &out, const std::vector<trib::Point> &points) {
    bool refs = false;
    for (const auto &p : points)
        for (const auto &a : p.attachments) refs = refs || (!a.data && !a.stored_path.empty());
    out.append(kMagic, 3);
    put_u8(out, refs ? kPointCodecStoredVersion : kPointCodecVersion);
    put_u32(out, count32(points.size(), "points"));
    for (const auto &p : points) {
        put_str(out, p.measurement);
        put_str(out, p.category);
        put_u64(out, static_cast<uint64_t>(p.time_ns));
        put_u32(out, count32(p.tags.size(), "tags"));
        for (const auto &[k, v] : p.tags) {
            put_str(out, k);
            put_str(out, v);
        }
        put_u32(out, count32(p.fields.size(), "fields"));
        for (const auto &f : p.fields) {
            put_u8(out, static_cast<uint8_t>(f.type));
            put_str(out, f.key);
            switch (f.type) {
            case TRIB_FIELD_INT: put_u64(out, static_cast<uint64_t>(f.i)); break;
            case TRIB_FIELD_UINT: put_u64(out, f.u); break;
            case TRIB_FIELD_FLOAT: {
                uint64_t bits;
                std::memcpy(&bits, &f.f, 8);
                put_u64(out, bits);
                break;
            }
            case TRIB_FIELD_BOOL: put_u8(out, f.b ? 1 : 0); break;
            case TRIB_FIELD_STRING:
            case TRIB_FIELD_BYTES: put_str(out, f.s); break;
            default: throw PointCodecError("field '" + f.key + "' has unknown type " + std::to_string(f.type));
            }
        }
        put_u32(out, count32(p.attachments.size(), "attachments"));
        for (const auto &a : p.attachments) {
            put_str(out, a.name);
            put_str(out, a.content_type);
            if (refs) {
                bool stored = !a.data && !a.stored_path.empty();
                put_u8(out, stored ? 1 : 0);
                if (stored) {
                    put_str(out, a.stored_path);
                    put_u64(out, a.stored_size);
                    continue;
                }
            }
            put_str(out, a.data ? std::string_view(*a.data) : std::string_view());
        }
    }
}

std::string encode_points(const std::vector<trib::Point> &points) {
    std::string out;
    size_t estimate = 8;
    for (const auto &p : points) {
        estimate += 64 + p.measurement.size() + p.category.size();
        for (const auto &[k, v] : p.tags) estimate += 8 + k.size() + v.size();
        for (const auto &f : p.fields) estimate += 16 + f.key.size() + f.s.size();
        for (const auto &a : p.attachments)
            estimate += 12 + a.name.size() + a.content_type.size() + (a.data ? a.data->size() : 0);
    }
    out.reserve(estimate);
    append_encoded_points(out, points);
    return out;
}

std::vector<trib::Point> decode_points(std::string_view bytes) {
    if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 3) != 0)
        throw PointCodecError("not a point batch (bad magic)");
    Reader r(bytes.substr(3));
    uint8_t version = r.u8();
    if (version != kPointCodecVersion && version != kPointCodecStoredVersion)
        throw PointCodecError("point batch version " + std::to_string(version) +
                              " is not supported (this build reads " + std::to_string(kPointCodecVersion) + " and " +
                              std::to_string(kPointCodecStoredVersion) + ")");
    // Smallest point: 2 empty strings + time + 3 counts = 28 bytes.
    uint32_t n = r.count(28, "point");
    std::vector<trib::Point> points;
    points.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        trib::Point p;
        p.measurement = r.str("measurement");
        p.category = r.str("category");
        p.time_ns = static_cast<int64_t>(r.u64());
        uint32_t nt = r.count(8, "tag");
        p.tags.reserve(nt);
        for (uint32_t t = 0; t < nt; ++t) {
            std::string k = r.str("tag key");
            std::string v = r.str("tag value");
            p.tags.emplace_back(std::move(k), std::move(v));
        }
        uint32_t nf = r.count(6, "field");
        p.fields.reserve(nf);
        for (uint32_t k = 0; k < nf; ++k) {
            trib::Field f;
            uint8_t type = r.u8();
            f.key = r.str("field key");
            switch (type) {
            case TRIB_FIELD_INT: f.i = static_cast<int64_t>(r.u64()); break;
            case TRIB_FIELD_UINT: f.u = r.u64(); break;
            case TRIB_FIELD_FLOAT: {
                uint64_t bits = r.u64();
                std::memcpy(&f.f, &bits, 8);
                break;
            }
            case TRIB_FIELD_BOOL: {
                uint8_t b = r.u8();
                if (b > 1) throw PointCodecError("field '" + f.key + "': bool byte " + std::to_string(b));
                f.b = b == 1;
                break;
            }
            case TRIB_FIELD_STRING:
            case TRIB_FIELD_BYTES: f.s = r.str("field value"); break;
            default: throw PointCodecError("field '" + f.key + "' has unknown type " + std::to_string(type));
            }
            f.type = static_cast<trib_field_type>(type);
            p.fields.push_back(std::move(f));
        }
        uint32_t na = r.count(12, "attachment");
        p.attachments.reserve(na);
        for (uint32_t a = 0; a < na; ++a) {
            std::string name = r.str("attachment name");
            std::string ctype = r.str("attachment content type");
            uint8_t kind = version == kPointCodecStoredVersion ? r.u8() : 0;
            if (kind > 1) throw PointCodecError("attachment '" + name + "': unknown kind " + std::to_string(kind));
            if (kind == 1) {
                trib::Attachment ref;
                ref.name = std::move(name);
                ref.content_type = std::move(ctype);
                ref.stored_path = r.str("attachment path");
                ref.stored_size = r.u64();
                p.attachments.push_back(std::move(ref));
                continue;
            }
            std::string data = r.str("attachment data");
            p.attach(std::move(name), std::move(ctype), std::move(data));
        }
        points.push_back(std::move(p));
    }
    if (r.remaining() != 0)
        throw PointCodecError("point batch has " + std::to_string(r.remaining()) + " trailing bytes");
    return points;
}

} // namespace trib::core
