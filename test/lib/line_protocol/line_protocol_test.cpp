#include <catch2/catch.hpp>
#include <tributary/line_protocol.hpp>
#include <trib_test/support.hpp>

#include <cmath>
#include <limits>

using trib::Field;
using trib::Point;
using trib::line_protocol::to_line;

TEST_CASE("line protocol: field types", "[lp]") {
    Point p("cpu", "metric", 1700000000123456789);
    p.tag("host", "a");
    p.field(Field::Int("i", -42));
    p.field(Field::Uint("u", 18446744073709551615ull));
    p.field(Field::Float("f", 0.1));
    p.field(Field::Float("whole", 2.0));
    p.field(Field::Bool("yes", true));
    p.field(Field::Bool("no", false));
    p.field(Field::String("s", "text"));
    CHECK(to_line(p) ==
          "cpu,host=a i=-42i,u=18446744073709551615u,f=0.1,whole=2,yes=true,no=false,s=\"text\" 1700000000123456789\n");
}

TEST_CASE("line protocol: escaping of spaces, commas, equals, quotes and backslashes", "[lp]") {
    Point p("my meas,x=1", "metric", 5);
    p.tag("tag key,=", "va lue,=x");
    p.field(Field::String("field key=,", "say \"hi\" C:\\dir\\"));
    std::string line = to_line(p);
    CHECK(line ==
          "my\\ meas\\,x=1,tag\\ key\\,\\==va\\ lue\\,\\=x field\\ key\\=\\,=\"say \\\"hi\\\" C:\\\\dir\\\\\" 5\n");
    // And a reader gets the original values back.
    auto pts = trib::test::parse_line_protocol(line);
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "my meas,x=1");
    CHECK(pts[0].tag("tag key,=") == "va lue,=x");
    CHECK(pts[0].field_str("field key=,") == "say \"hi\" C:\\dir\\");
}

TEST_CASE("line protocol: floats print shortest round-trip", "[lp]") {
    for (double v : {0.1, 1.0 / 3.0, 1e-300, 123456789.125, -0.0, 6.02214076e23}) {
        Point p("m", "metric", 1);
        p.field(Field::Float("v", v));
        auto pts = trib::test::parse_line_protocol(to_line(p));
        REQUIRE(pts.size() == 1);
        CHECK(pts[0].field_float("v") == v);
    }
}

TEST_CASE("line protocol: bytes are base64, unrepresentable fields and empty points are skipped", "[lp]") {
    Point p("m", "metric", 1);
    p.field(Field::Bytes("b", std::string("\x00\xff\x10hello", 8)));
    p.field(Field::Float("nan", std::nan("")));
    p.field(Field::Float("inf", std::numeric_limits<double>::infinity()));
    CHECK(to_line(p) == "m b=\"AP8QaGVsbG8=\" 1\n");

    Point only_nan("m", "metric", 1);
    only_nan.field(Field::Float("nan", std::nan("")));
    std::string out = "keep\n";
    CHECK_FALSE(trib::line_protocol::append_line(out, only_nan));
    CHECK(out == "keep\n");
    CHECK(to_line(Point("m", "metric", 1)).empty());
}

TEST_CASE("line protocol: empty tag values are left out and newlines in tags do not break lines", "[lp]") {
    Point p("m", "metric", 1);
    p.tag("empty", "");
    p.tag("multi", "a\nb");
    p.field(Field::String("s", "line1\nline2"));
    std::string line = to_line(p);
    CHECK(line == "m,multi=a\\ b s=\"line1\\nline2\" 1\n");
    auto pts = trib::test::parse_line_protocol(line);
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].field_str("s") == "line1\\nline2");
    CHECK_FALSE(pts[0].has_tag("empty"));
}

TEST_CASE("line protocol: a line break in a string field cannot forge a point", "[lp]") {
    Point p("profile", "profiling", 7);
    p.field(Field::String("runtime_id", "rid\nFORGED,host=x value=1i 1700000000000000000\n"));
    std::string line = to_line(p);
    CHECK(line == "profile runtime_id=\"rid\\nFORGED,host=x value=1i 1700000000000000000\\n\" 7\n");
    CHECK(line.find('\n') == line.size() - 1);
    auto pts = trib::test::parse_line_protocol(line);
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "profile");
    // The reader (like InfluxDB) keeps the escape as written: visible, and on one line.
    CHECK(pts[0].field_str("runtime_id") == "rid\\nFORGED,host=x value=1i 1700000000000000000\\n");
}

TEST_CASE("line protocol: every escape of a string field value", "[lp]") {
    struct Case {
        std::string in, out;
    };
    for (auto &c : std::vector<Case>{{"a\nb", "\"a\\nb\""},
                                     {"a\rb", "\"a\\rb\""},
                                     {std::string("a\0b", 3), "\"a\\0b\""},
                                     {"a\"b", "\"a\\\"b\""},
                                     {"a\\b", "\"a\\\\b\""},
                                     {"\\", "\"\\\\\""},
                                     {"\r\n", "\"\\r\\n\""},
                                     {"tab\tand, = space", "\"tab\tand, = space\""}}) {
        Point p("m", "metric", 1);
        p.field(Field::String("s", c.in));
        CHECK(to_line(p) == "m s=" + c.out + " 1\n");
    }
}

TEST_CASE("line protocol: line breaks and NUL in names and tags become escaped spaces", "[lp]") {
    Point p(std::string("me\nas\0x", 7), "metric", 3);
    p.tag("k\r1", "v\n1");
    p.tag(std::string("k2", 2), std::string("a\0b", 3));
    p.field(Field::Int("f\nk", 1));
    std::string line = to_line(p);
    CHECK(line == "me\\ as\\ x,k\\ 1=v\\ 1,k2=a\\ b f\\ k=1i 3\n");
    auto pts = trib::test::parse_line_protocol(line);
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "me as x");
    CHECK(pts[0].tag("k 1") == "v 1");
    CHECK(pts[0].tag("k2") == "a b");
    CHECK(pts[0].field_int("f k") == 1);
}

TEST_CASE("line protocol: a backslash before a separator cannot swallow it", "[lp]") {
    Point p("dir\\", "metric", 4);
    p.tag("path", "C:\\");
    p.tag("mid", "a\\,b");
    p.tag("plain", "a\\b");
    p.field(Field::Int("k\\", 2));
    // Runs of backslashes right before an escaped character or the token's end are doubled;
    // elsewhere a backslash is literal and stays single.
    CHECK(to_line(p) == "dir\\\\,path=C:\\\\,mid=a\\\\\\,b,plain=a\\b k\\\\=2i 4\n");
}

TEST_CASE("line protocol: a measurement starting with '#' is not a comment", "[lp]") {
    Point p("#m", "metric", 1);
    p.field(Field::Int("v", 1));
    CHECK(to_line(p) == "\\#m v=1i 1\n");
    CHECK(trib::test::parse_line_protocol(to_line(p)).size() == 1);
}

TEST_CASE("line protocol: every field type and awkward names survive the round trip") {
    trib::Point p("prof ile,x", "profiling", 1700000000123456789);
    p.tag("service", "a b,c=d").tag("path", "C:\\dir\\").tag("tail", "x\\ y").tag("eq", "k=v");
    p.field(trib::Field::Int("i", -42))
        .field(trib::Field::Uint("u", 18446744073709551615ull))
        .field(trib::Field::Float("f", 0.1 + 0.2))
        .field(trib::Field::Bool("ok", true))
        .field(trib::Field::Bool("no", false))
        .field(trib::Field::String("s", "quote \" backslash \\ newline \n cr \r tab \t end\\"))
        .field(trib::Field::String("empty", ""));
    std::string text;
    REQUIRE(trib::line_protocol::append_line(text, p));
    REQUIRE(text.back() == '\n');
    REQUIRE(text.find('\n') == text.size() - 1); // one line, whatever the strings hold
    auto back = trib::line_protocol::parse_lines(text, "profiling");
    REQUIRE(back.size() == 1);
    auto &q = back[0];
    CHECK(q.measurement == p.measurement);
    CHECK(q.category == "profiling");
    CHECK(q.time_ns == p.time_ns);
    CHECK(q.tags == p.tags);
    REQUIRE(q.fields.size() == p.fields.size());
    for (size_t i = 0; i < p.fields.size(); ++i) {
        INFO(p.fields[i].key);
        CHECK(q.fields[i].key == p.fields[i].key);
        CHECK(q.fields[i].type == p.fields[i].type);
        CHECK(q.fields[i].i == p.fields[i].i);
        CHECK(q.fields[i].u == p.fields[i].u);
        CHECK(q.fields[i].f == p.fields[i].f);
        CHECK(q.fields[i].b == p.fields[i].b);
        CHECK(q.fields[i].s == p.fields[i].s);
    }
    // The tests' own line-protocol reader (the one the file sink's tests use) agrees.
    auto lp = trib::test::parse_line_protocol(text);
    REQUIRE(lp.size() == 1);
    CHECK(lp[0].tag("service") == "a b,c=d");
    CHECK(lp[0].field_uint("u") == 18446744073709551615ull);
    // Writing the read-back point again gives the same bytes.
    std::string again;
    REQUIRE(trib::line_protocol::append_line(again, q));
    CHECK(again == text);
}

TEST_CASE("line protocol: bytes fields travel as base64 strings, fieldless points are skipped") {
    trib::Point p("m", "metric", 5);
    p.field(trib::Field::Bytes("raw", std::string("\x00\xff\x10", 3)));
    std::string text;
    REQUIRE(trib::line_protocol::append_line(text, p));
    CHECK(text == "m raw=\"AP8Q\" 5\n");
    trib::Point empty("m", "metric", 5);
    std::string none;
    CHECK_FALSE(trib::line_protocol::append_line(none, empty));
    CHECK(none.empty());
}

TEST_CASE("line protocol: malformed input names the line") {
    CHECK_THROWS_WITH(trib::line_protocol::parse_lines("m a=1i 5\nm a=\"open 5\n", "metric"),
                      Catch::Contains("line 2"));
    CHECK_THROWS_WITH(trib::line_protocol::parse_lines("m a=1i notatime\n", "metric"), Catch::Contains("timestamp"));
    CHECK_THROWS(trib::line_protocol::parse_lines("m 5\n", "metric"));
}
