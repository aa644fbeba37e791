// [[inputs.profile.pyroscope]]: an own HTTP listener on `url` serving POST /ingest (and
// the Connect push route) through the shared PyroscopeIngest.
#pragma once

#include "config.hpp"

#include <tributary/plugin.hpp>

#include <atomic>
#include <memory>

namespace Poco::Net { class HTTPServer; }

namespace trib::profiling { class PyroscopeIngest; }

namespace trib::profile {

class PyroscopeListener {
  public:
    // Binds the address at once; throws std::runtime_error naming it when it cannot.
    PyroscopeListener(trib::Host &host, const PyroscopeListenConfig &cfg, const ProfileConfig &parent);
    ~PyroscopeListener();
    PyroscopeListener(const PyroscopeListener &) = delete;
    PyroscopeListener &operator=(const PyroscopeListener &) = delete;

    void start();
    // Stops accepting and waits for requests in flight.
    void stop();
    uint16_t port() const;

  private:
    std::atomic<int> in_flight_{0}; // declared first: the server's handlers refer to it
    std::unique_ptr<profiling::PyroscopeIngest> ingest_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    uint64_t body_limit_;
};

} // namespace trib::profile
