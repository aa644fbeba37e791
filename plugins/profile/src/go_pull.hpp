// [[inputs.profile.go]]: pulls /debug/pprof/* from a Go program on an interval, on the
// module's own thread, only while this host leads when `election = true`.
#pragma once

#include "config.hpp"

#include <tributary/plugin.hpp>
#include <tributary/profiling/pprof.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace Poco::Net {
class HTTPClientSession;
}

namespace trib::profile {

// cur − prev for the sample types in `delta_types` (matched by stack and labels); other
// sample types keep cur's values. All-zero samples are dropped. Time = prev's, duration
// = cur − prev (Go's pprof delta semantics).
perftools::profiles::Profile delta_profile(const perftools::profiles::Profile &prev,
                                           const perftools::profiles::Profile &cur,
                                           const std::vector<std::string> &delta_types);

struct GoProfileType {
    std::string name;                     // cpu, goroutine, heap, mutex, block
    std::string path;                     // /debug/pprof/...
    std::string file;                     // attachment name
    std::vector<std::string> delta_types; // empty: sent as pulled
};
const GoProfileType &go_profile_type(const std::string &name);

class GoPuller {
  public:
    GoPuller(trib::Host &host, GoPullConfig cfg, const ProfileConfig &parent);
    ~GoPuller();
    GoPuller(const GoPuller &) = delete;
    GoPuller &operator=(const GoPuller &) = delete;

    void start();
    // Returns once the thread has stopped (an in-flight request is aborted).
    void stop();
    // Wakes the thread so it notices a leadership change at once.
    void leadership_changed();

    // One round over the enabled types (the thread calls this; tests may too). Returns
    // the number of uploads emitted.
    int pull_round();

  private:
    bool may_pull() const;
    std::string fetch(const std::string &path_and_query, int timeout_s);
    void emit_upload(std::vector<std::pair<std::string, std::string>> files, int64_t start_ns, int64_t end_ns);
    void run();

    trib::Host &host_;
    GoPullConfig cfg_;
    const ProfileConfig &parent_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::mutex session_mu_;
    Poco::Net::HTTPClientSession *session_ = nullptr;              // the in-flight request, for abort
    std::map<std::string, perftools::profiles::Profile> previous_; // delta baselines by type
};

} // namespace trib::profile
