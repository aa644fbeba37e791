// Leader election as the host sees it. Backends: "none" (always leader) and "etcd".
// Inputs learn of changes through trib_module_t::on_leadership (the host calls it on the
// control thread when on_change fires) and can poll is_leader() from any thread.
#pragma once

#include <functional>
#include <string>

namespace trib::core {

class Election {
  public:
    virtual ~Election() = default;
    // Begins campaigning. on_change(true|false) is called from the election's own thread
    // whenever this host gains or loses leadership.
    virtual void start(std::function<void(bool is_leader)> on_change) = 0;
    // Resigns (if leading) and stops; returns when no further on_change calls happen.
    virtual void stop() = 0;
    // Thread-safe.
    virtual bool is_leader() const = 0;
    // "leader" / "follower" / "candidate" etc., for /health and /metrics.
    virtual std::string role() const = 0;
    // Backend name: "none", "etcd".
    virtual std::string backend() const = 0;
};

} // namespace trib::core
