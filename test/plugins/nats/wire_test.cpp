// nats.unit: what the nats modules put on the wire, without a server: header escaping,
// subjects, digests (the line protocol itself is tested in test/lib/line_protocol).
#include <trib_test/support.hpp>
#include <wire.hpp>

#include <catch2/catch.hpp>

namespace tn = trib::nats;

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
