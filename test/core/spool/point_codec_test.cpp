#include "point_codec.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace trib::core;

namespace {
std::vector<trib::Point> sample_points() {
    trib::Point p("profile", "profiling", 1700000000123456789);
    p.tag("service", "shop").tag("host", "h 1,x=y");
    p.field(trib::Field::Int("i", -42));
    p.field(trib::Field::Uint("u", std::numeric_limits<uint64_t>::max()));
    p.field(trib::Field::Float("f", -0.1));
    p.field(trib::Field::Bool("b", true));
    p.field(trib::Field::String("s", "quote\" back\\slash\nnewline"));
    p.field(trib::Field::Bytes("raw", std::string("\0\x01\xff", 3)));
    std::string pprof(10000, '\0');
    for (size_t i = 0; i < pprof.size(); ++i) pprof[i] = static_cast<char>(i * 31);
    p.attach("cpu.pprof", "application/octet-stream", pprof);
    p.attach("event.json", "application/json", std::string(R"({"format":"pprof"})"));
    trib::Point q("m", "metric", -5);
    q.field(trib::Field::Float("nan", std::numeric_limits<double>::quiet_NaN()));
    return {p, q, trib::Point()};
}
} // namespace

TEST_CASE("point codec round-trips every field type and attachment bytes", "[codec]") {
    auto in = sample_points();
    auto out = decode_points(encode_points(in));
    REQUIRE(out.size() == 3);
    const auto &p = out[0];
    CHECK(p.measurement == "profile");
    CHECK(p.category == "profiling");
    CHECK(p.time_ns == 1700000000123456789);
    REQUIRE(p.tags.size() == 2);
    CHECK(p.tags[0] == std::make_pair(std::string("service"), std::string("shop")));
    CHECK(*p.find_tag("host") == "h 1,x=y");
    CHECK(p.find_field("i")->i == -42);
    CHECK(p.find_field("i")->type == TRIB_FIELD_INT);
    CHECK(p.find_field("u")->u == std::numeric_limits<uint64_t>::max());
    CHECK(p.find_field("f")->f == -0.1);
    CHECK(p.find_field("b")->b == true);
    CHECK(p.find_field("s")->s == "quote\" back\\slash\nnewline");
    CHECK(p.find_field("raw")->type == TRIB_FIELD_BYTES);
    CHECK(p.find_field("raw")->s == std::string("\0\x01\xff", 3));
    REQUIRE(p.attachments.size() == 2);
    CHECK(p.attachments[0].name == "cpu.pprof");
    CHECK(p.attachments[0].content_type == "application/octet-stream");
    CHECK(*p.attachments[0].data == *in[0].attachments[0].data);
    CHECK(*p.attachments[1].data == R"({"format":"pprof"})");
    CHECK(out[1].time_ns == -5);
    CHECK(std::isnan(out[1].fields[0].f));
    CHECK(out[2].measurement.empty());
}

TEST_CASE("point codec refuses damaged input with a clear error", "[codec]") {
    std::string bytes = encode_points(sample_points());
    // Every truncation is refused, none crashes.
    for (size_t n = 0; n < bytes.size(); n += 97)
        CHECK_THROWS_AS(decode_points(std::string_view(bytes).substr(0, n)), PointCodecError);
    CHECK_THROWS_WITH(decode_points(bytes + "x"), Catch::Contains("trailing"));
    std::string v3 = bytes;
    v3[3] = 3;
    CHECK_THROWS_WITH(decode_points(v3), Catch::Contains("version 3"));
    std::string huge = bytes;
    huge[4] = huge[5] = huge[6] = huge[7] = '\xff';
    CHECK_THROWS_WITH(decode_points(huge), Catch::Contains("count"));
    CHECK_THROWS_WITH(decode_points("nope nope"), Catch::Contains("magic"));
}
