// The host's internal sink interface. Built-in sinks (file, stdout, influxdb, dataway)
// implement it directly; a sink module is wrapped in an adapter that implements it over
// trib_module_t::write. Each sink runs behind its own queue and thread (the router), so
// write() may block without stalling other sinks.
#pragma once

#include <tributary/plugin.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace trib::core {

class Sink {
  public:
    virtual ~Sink() = default;
    // The sink's config name ([[sinks]] name).
    virtual const std::string &name() const = 0;
    // Called on the sink's own thread, one batch at a time.
    // OK: written. RETRY / BACKPRESSURE: transient, the router retries with backoff.
    // PERMANENT / INVALID_ARGUMENT: dropped, counted and logged; `err` says why.
    virtual trib_status write(const std::vector<trib::Point> &batch, std::string &err) = 0;
    // Whether the router may join queued batches into one write (a backlog drains in fewer,
    // larger writes). A spool says no: one record per emitted batch keeps each record within
    // the spool's capacity, and its delivery joins records itself.
    virtual bool takes_joined_batches() const { return true; }
    // Several queued batches in one write, in order. Default: joined into one vector (a copy
    // of the points); a sink that can take them apart overrides it.
    virtual trib_status write_parts(const std::vector<const std::vector<trib::Point> *> &parts, std::string &err) {
        if (parts.size() == 1) return write(*parts.front(), err);
        std::vector<trib::Point> joined;
        size_t n = 0;
        for (auto *p : parts) n += p->size();
        joined.reserve(n);
        for (auto *p : parts) joined.insert(joined.end(), p->begin(), p->end());
        return write(joined, err);
    }
    // How long the router may hold points before a write, gathering more (0: write at once).
    // For sinks that group on their own schedule anyway: fewer wake-ups of the sink's thread.
    virtual std::chrono::milliseconds write_linger() const { return std::chrono::milliseconds(0); }
    // Flush buffered output (called at shutdown and periodically). Default: nothing.
    virtual void flush() {}
};

} // namespace trib::core
