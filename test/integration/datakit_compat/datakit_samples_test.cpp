// A DataKit user's conf.d, carried over as is: the sample configs of the three inputs from
// DataKit's documentation (samples/, see README there) start every input in the real host.
#include <trib_test/support.hpp>

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <catch2/catch.hpp>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

bool tcp_accepts(uint16_t port) {
    try {
        Poco::Net::StreamSocket s;
        s.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(1, 0));
        return true;
    } catch (const Poco::Exception &) {
        return false;
    }
}

} // namespace

TEST_CASE("DataKit's own sample configs in conf.d start the profile, pyroscope and pinpoint inputs") {
    const std::string samples = std::string(TRIB_TEST_DATA_DIR) + "/integration/datakit_compat/samples/";
    tt::HostOptions opts;
    for (const char *input : {"profile", "pyroscope", "pinpoint"})
        opts.conf_d[std::string(input) + "/" + input + ".conf"] = tt::read_file(samples + input + ".conf");
    tt::HostProcess host(opts); // waits for /health: every input started
    INFO(host.log());

    auto health = tt::http("GET", host.url("/health"));
    CHECK(health.status == 200);
    CHECK_THAT(health.body, Catch::Contains("\"ready\":true"));
    // Each input answers on its DataKit route: a malformed request is the input's 400, not a 404.
    CHECK(tt::http("POST", host.url("/profiling/v1/input"), "{}", "application/json").status == 400);
    CHECK(tt::http("POST", host.url("/ingest?name=app.cpu&format=folded"), "", "text/plain").status == 400);
    // Pinpoint's sample says address = "": DataKit's default port, 9991.
    CHECK(tcp_accepts(9991));
    CHECK_THAT(host.log(), Catch::Contains("9991"));
    CHECK(host.stop() == 0);
}
