#include <catch2/catch.hpp>
#include <trib_test/support.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace trib::test;

TEST_CASE("parse_line_protocol reads every escape and field type", "[support][lp]") {
    auto pts = parse_line_protocol("my\\ meas\\,x,host=a\\ b,k\\=1=v\\,2 i=-5i,u=7u,f=1.5,b=true,s=\"say \\\"hi\\\" "
                                   "\\\\ ok\" 1700000000000000000\n"
                                   "m2 f=2,t=t,s=\"two\nlines\"\n"
                                   "\n"
                                   "# comment\n"
                                   "m3,tag=x f=1e-3 12\n");
    REQUIRE(pts.size() == 3);
    CHECK(pts[0].measurement == "my meas,x");
    CHECK(pts[0].tag("host") == "a b");
    CHECK(pts[0].tag("k=1") == "v,2");
    CHECK(pts[0].field_int("i") == -5);
    CHECK(pts[0].field_uint("u") == 7u);
    CHECK(pts[0].field_float("f") == 1.5);
    CHECK(pts[0].field_bool("b"));
    CHECK(pts[0].field_str("s") == "say \"hi\" \\ ok");
    CHECK(pts[0].time_ns == 1700000000000000000);
    CHECK(pts[1].field_str("s") == "two\nlines");
    CHECK(pts[1].field_bool("t"));
    CHECK(pts[1].time_ns == 0);
    CHECK(pts[2].field_float("f") == Approx(0.001));
    CHECK(pts[2].time_ns == 12);
    CHECK_THROWS_WITH(pts[0].field_int("f"), Catch::Contains("'f'"));
    CHECK_THROWS_WITH(pts[0].field_int("missing"), Catch::Contains("missing"));
}

TEST_CASE("parse_line_protocol rejects malformed lines with the line number", "[support][lp]") {
    CHECK_THROWS_WITH(parse_line_protocol("ok f=1\nbad\n"), Catch::Contains("line 2"));
    CHECK_THROWS_WITH(parse_line_protocol("m f=\"open\n"), Catch::Contains("unterminated"));
    CHECK_THROWS_WITH(parse_line_protocol("m f=12x\n"), Catch::Contains("bad float"));
    CHECK_THROWS_WITH(parse_line_protocol("m f=1 notatime\n"), Catch::Contains("timestamp"));
}

TEST_CASE("read_points reads every .lp file of a category and filters by measurement", "[support][lp]") {
    TempDir d;
    write_file(d.sub("points/metric/a.lp"), "a x=1i 1\na x=2i 2\n");
    write_file(d.sub("points/metric/b.lp"), "b y=1i 3\nb y=2i 4\nb y=3"); // last line incomplete
    CHECK(read_points(d.path(), "metric").size() == 4);
    auto b = read_points(d.path(), "metric", "b");
    REQUIRE(b.size() == 2);
    CHECK(b[1].field_int("y") == 2);
    CHECK(read_points(d.path(), "tracing").empty());
}

TEST_CASE("TempDir is created and removed recursively", "[support]") {
    std::string p;
    {
        TempDir d("trib-support-test");
        p = d.path();
        write_file(d.sub("x/y/z.txt"), "hello");
        CHECK(read_file(d.sub("x/y/z.txt")) == "hello");
        CHECK(list_files(p) == std::vector<std::string>{"x/y/z.txt"});
    }
    CHECK_FALSE(file_exists(p));
    CHECK_THROWS_WITH(read_file(p + "/nope"), Catch::Contains("nope"));
}

TEST_CASE("free_port returns a bindable port", "[support]") {
    int port = free_port();
    CHECK(port > 0);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    CHECK(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
    ::close(fd);
}

TEST_CASE("ChildProcess runs a program, captures output and exit code, kills on destruction", "[support][proc]") {
    {
        ChildProcess p({"sh", "-c", "echo out; echo err >&2; echo $TRIB_X; exit 3"}, {{"TRIB_X", "from-env"}});
        auto st = p.wait(10000ms);
        REQUIRE(st.has_value());
        CHECK(*st == 3);
        CHECK(p.log() == "out\nerr\nfrom-env\n");
    }
    pid_t grandchild = 0;
    {
        TempDir d;
        ChildProcess p({"sh", "-c", "sleep 60 & echo $! > pid; wait"}, {}, d.path());
        REQUIRE(
            wait_until([&] { return file_exists(d.sub("pid")) && !read_file(d.sub("pid")).empty(); }, 5000ms, 10ms));
        grandchild = std::stoi(read_file(d.sub("pid")));
        CHECK(p.running());
    }
    // The whole group is gone once the ChildProcess is destroyed.
    CHECK(wait_until([&] { return ::kill(grandchild, 0) != 0; }, 5000ms, 10ms));
    CHECK_THROWS_WITH(ChildProcess({"no-such-program-trib"}), Catch::Contains("no-such-program-trib"));
}

TEST_CASE("http reports a refused connection as status 0", "[support][http]") {
    auto r = http("GET", "http://127.0.0.1:" + std::to_string(free_port()) + "/health", "", "", {}, 2000);
    CHECK(r.status == 0);
    CHECK_FALSE(r.body.empty());
}

TEST_CASE("gzip_of and gunzip are inverses; gunzip reads concatenated members, refuses a cut stream", "[support]") {
    std::string text(100000, 'a');
    for (size_t i = 0; i < text.size(); i += 7) text[i] = char('a' + i % 26);
    std::string gz = trib::test::gzip_of(text);
    CHECK(gz.size() < text.size() / 4);
    CHECK(uint8_t(gz[0]) == 0x1f);
    CHECK(uint8_t(gz[1]) == 0x8b);
    CHECK(trib::test::gunzip(gz) == text);
    CHECK(trib::test::gunzip(trib::test::gzip_of("ab", 1) + trib::test::gzip_of("cd", 9)) == "abcd");
    CHECK_THROWS(trib::test::gunzip(gz.substr(0, gz.size() / 2)));
}

TEST_CASE("fixture reads a recorded payload and names a missing one", "[support]") {
    CHECK(trib::test::fixture("ddtrace-nodejs/part-event.json").find("attachments") != std::string::npos);
    CHECK_THROWS_WITH(trib::test::fixture("no/such/file"), Catch::Contains("no/such/file"));
}
