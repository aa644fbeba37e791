// A throwaway PKI for the TLS tests, made by make_test_pki.sh (openssl) in a temp dir:
// ca.pem, server.pem/server.key (127.0.0.1, localhost), client.pem/client.key, other-ca.pem.
#pragma once

#include <trib_test/support.hpp>

#include <stdexcept>
#include <string>

struct TestPki {
    trib::test::TempDir dir{"trib-pki"};
    TestPki() {
        trib::test::ChildProcess make({std::string(TRIB_UPSTREAM_TLS_TEST_DIR) + "/make_test_pki.sh", dir.path()});
        if (make.wait(std::chrono::seconds(30)) != 0)
            throw std::runtime_error("make_test_pki.sh failed:\n" + make.log());
    }
    std::string file(const std::string &name) const { return dir.sub(name); }
};
