// packaging.sdk_example: a third party with only the tributary-dev package builds the SDK's
// example input from the package's own sources (CMAKE_PREFIX_PATH at the unpacked /usr, no
// source tree), drops the module into the unpacked host's plugins dir, and the unpacked
// host (its compiled-in paths under TRIBUTARY_INSTALL_ROOT) serves it: a POST to the
// example's route becomes a point in the file sink.
#include <catch2/catch.hpp>

#include <trib_test/support.hpp>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace trib::test;

namespace {

std::string deb_of(const std::string &package) {
    std::vector<std::string> found;
    for (auto &e : fs::directory_iterator(TRIB_PACKAGES_DIR)) {
        std::string name = e.path().filename().string();
        if (name.rfind(package + "_", 0) == 0 && e.path().extension() == ".deb") found.push_back(e.path().string());
    }
    INFO("packages in " << TRIB_PACKAGES_DIR);
    REQUIRE(found.size() == 1);
    return found[0];
}

// Runs a tool to completion; the test fails with its output when it does not exit 0.
void run(const std::vector<std::string> &argv, std::chrono::milliseconds timeout = 60000ms) {
    ChildProcess p(argv);
    auto code = p.wait(timeout);
    if (!code) p.stop(SIGKILL, 1000ms);
    INFO("command: " << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << "\n" << p.log());
    REQUIRE(code.has_value());
    REQUIRE(*code == 0);
}

} // namespace

TEST_CASE("the SDK example input, built against the unpacked tributary-dev alone, runs in the unpacked host",
          "[packaging]") {
    TempDir tmp("trib-pkg-sdk");
    const std::string root = tmp.sub("root");
    fs::create_directories(root);
    for (auto *pkg : {"tributary", "tributary-dev"}) run({"dpkg-deb", "-x", deb_of(pkg), root});

    // The example's sources as the package ships them; nothing from the source tree.
    const std::string example = root + "/usr/share/doc/tributary-dev/examples/example_input";
    const std::string build = tmp.sub("build");
    run({TRIB_CMAKE_COMMAND, "-S", example, "-B", build, "-G", "Ninja", "-DCMAKE_MAKE_PROGRAM=" TRIB_MAKE_PROGRAM,
         "-DCMAKE_CXX_COMPILER=" TRIB_CXX_COMPILER, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
         "-DCMAKE_PREFIX_PATH=" + root + "/usr", "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"});
    // find_package(Tributary) found the unpacked package, not some other copy.
    REQUIRE_THAT(read_file(build + "/CMakeCache.txt"),
                 Catch::Contains("Tributary_DIR:PATH=" + root + "/usr/lib/cmake/Tributary"));
    run({TRIB_CMAKE_COMMAND, "--build", build, "-j", "2"}, 120000ms);
    REQUIRE(file_exists(build + "/plugins/example_input.so"));

    // As an operator adds a module: into the plugins dir, its sample into conf.d.
    fs::copy_file(build + "/plugins/example_input.so", root + "/usr/lib/tributary/plugins/example_input.so");
    const std::string conf = tmp.sub("etc");
    write_file(conf + "/tributary.conf", "");
    write_file(conf + "/conf.d/example_input/example_input.conf", read_file(example + "/example_input.conf.sample"));

    const int port = free_port();
    const std::string data = tmp.sub("data");
    ChildProcess host({root + "/usr/bin/tributary", "--config", conf + "/tributary.conf", "--data-dir", data,
                       "--listen", "127.0.0.1:" + std::to_string(port)},
                      {{"TRIBUTARY_INSTALL_ROOT", root}});
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    bool ready = wait_until([&] { return !host.running() || http("GET", base + "/health").status == 200; }, 30000ms);
    INFO("host log:\n" << host.log());
    REQUIRE(ready);
    REQUIRE(host.running());

    auto answer = http("POST", base + "/example/echo?from=package", "hello from tributary-dev", "text/plain");
    REQUIRE(answer.status == 200);
    REQUIRE(host.stop(SIGTERM) == 0);

    // The host log names the module file it loaded: the one in the unpacked plugins dir.
    REQUIRE_THAT(host.log(), Catch::Contains(root + "/usr/lib/tributary/plugins/example_input.so"));
    auto points = read_points(data, "metric", "example_echo");
    REQUIRE(points.size() == 1);
    CHECK(points[0].tag("from") == "package");
    CHECK(points[0].field_str("message") == "hello from tributary-dev");
}
