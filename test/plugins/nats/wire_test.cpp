// nats.unit: what the nats modules put on the wire, without a server: line protocol
// written and read back (escapes, every field type), header escaping, digests.
#include <trib_test/support.hpp>
#include <wire.hpp>

#include <catch2/catch.hpp>

namespace tn = trib::nats;

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
    REQUIRE(tn::append_line(text, p));
    REQUIRE(text.back() == '\n');
    REQUIRE(text.find('\n') == text.size() - 1); // one line, whatever the strings hold
    auto back = tn::parse_lines(text, "profiling");
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
    // The host's own line-protocol reader (the one the file sink's tests use) agrees.
    auto lp = trib::test::parse_line_protocol(text);
    REQUIRE(lp.size() == 1);
    CHECK(lp[0].tag("service") == "a b,c=d");
    CHECK(lp[0].field_uint("u") == 18446744073709551615ull);
    // Writing the read-back point again gives the same bytes.
    std::string again;
    REQUIRE(tn::append_line(again, q));
    CHECK(again == text);
}

TEST_CASE("line protocol: bytes fields travel as base64 strings, fieldless points are skipped") {
    trib::Point p("m", "metric", 5);
    p.field(trib::Field::Bytes("raw", std::string("\x00\xff\x10", 3)));
    std::string text;
    REQUIRE(tn::append_line(text, p));
    CHECK(text == "m raw=\"AP8Q\" 5\n");
    trib::Point empty("m", "metric", 5);
    std::string none;
    CHECK_FALSE(tn::append_line(none, empty));
    CHECK(none.empty());
}

TEST_CASE("line protocol: malformed input names the line") {
    CHECK_THROWS_WITH(tn::parse_lines("m a=1i 5\nm a=\"open 5\n", "metric"), Catch::Contains("line 2"));
    CHECK_THROWS_WITH(tn::parse_lines("m a=1i notatime\n", "metric"), Catch::Contains("timestamp"));
    CHECK_THROWS(tn::parse_lines("m 5\n", "metric"));
}

TEST_CASE("headers, subjects and digests") {
    std::string raw = "wall.pprof\r\nInjected: yes %41";
    std::string esc = tn::header_escape(raw);
    CHECK(esc.find('\r') == std::string::npos);
    CHECK(esc.find('\n') == std::string::npos);
    CHECK(tn::header_unescape(esc) == raw);
    CHECK(tn::subject_token("a.b *>c d") == "a_b___c_d");
    CHECK(tn::subject_token("") == "_");
    CHECK(tn::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    tn::Sha256 pieces;
    pieces.update("a");
    pieces.update("");
    pieces.update("bc");
    CHECK(pieces.hex() == tn::sha256_hex("abc"));
    CHECK(tn::chunk_count(10, 10) == 1);
    CHECK(tn::chunk_count(11, 10) == 2);
    CHECK(tn::chunk_count(0, 10) == 1);
}

TEST_CASE("config errors name the file and the key (host --check-config with both nats modules)") {
    namespace tt = trib::test;
    tt::TempDir dir("nats-config");
    auto check = [&](const std::string &conf, const std::string &input) {
        tt::write_file(dir.sub("tributary.conf"), conf);
        tt::write_file(dir.sub("conf.d/nats.conf"), input);
        tt::ChildProcess host({TRIB_BUILD_DIR "/bin/tributary", "--config", dir.sub("tributary.conf"), "--conf-d",
                               dir.sub("conf.d"), "--plugins-dir", TRIB_BUILD_DIR "/plugins", "--data-dir",
                               dir.sub("data"), "--check-config"});
        auto rc = host.wait(std::chrono::seconds(30));
        return std::make_pair(rc.value_or(-1), host.log());
    };
    auto ok = check("[[sinks]]\n  type = \"nats\"\n  name = \"js\"\n  urls = [\"nats://127.0.0.1:4222\"]\n"
                    "  create_stream = true\n  max_age = \"24h\"\n",
                    "[[inputs.nats]]\n  durable = \"central\"\n  subjects = [\"tributary.>\"]\n");
    INFO(ok.second);
    CHECK(ok.first == 0);
    auto bad_sink = check("[[sinks]]\n  type = \"nats\"\n  name = \"js\"\n  max_age = \"soon\"\n", "");
    CHECK(bad_sink.first == 1);
    CHECK_THAT(bad_sink.second, Catch::Contains("tributary.conf") && Catch::Contains("key 'max_age'"));
    auto bad_key = check("[[sinks]]\n  type = \"nats\"\n  name = \"js\"\n  url = \"nats://x:1\"\n", "");
    CHECK_THAT(bad_key.second, Catch::Contains("key 'url': unknown key"));
    auto bad_input = check("", "[[inputs.nats]]\n  durable = \"a.b\"\n");
    CHECK(bad_input.first == 1);
    CHECK_THAT(bad_input.second, Catch::Contains("nats.conf") && Catch::Contains("key 'durable'"));
    auto two_subjects = check("", "[[inputs.nats]]\n  subjects = [\"a.>\", \"b.>\"]\n");
    CHECK_THAT(two_subjects.second, Catch::Contains("key 'subjects'"));
}
