// An input instance's disk spool (DataKit's io_config): emit() appends
// the batch and answers OK once it is durable, BACKPRESSURE when the spool is full (the
// input turns it into 429 / RESOURCE_EXHAUSTED); workers move records from the spool to
// the bus, retrying while the bus pushes back. A record leaves the spool only once every
// sink is done with its points (the bus calls `on_released`), so a kill -9 while points
// sit in the bus's memory loses nothing: they are delivered again after the restart.
#pragma once

#include "spool/delivery_metrics.hpp"
#include "spool/spool_config.hpp"

#include <tributary/plugin.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace trib::core {

class InputSpool {
  public:
    // to_bus: hands points to the bus (OK / BACKPRESSURE / INVALID_ARGUMENT, err says why);
    // after OK the bus calls on_released once no sink needs the points any more.
    using ToBus = std::function<trib_status(std::vector<trib::Point> &&points, std::string &err,
                                            std::function<void()> on_released)>;
    using Log = SpoolDelivery::Log;

    InputSpool(std::string instance_id, SpoolSetup setup, ToBus to_bus, Log log);
    ~InputSpool();

    trib_status accept(const std::vector<trib::Point> &points, std::string &err);
    void start();
    void stop();

    const Spool &spool() const { return *spool_; }
    // Every record is fdatasync()ed before accept() returns (no fsync interval or byte batch).
    bool syncs_every_record() const {
        return spool_->options().fsync_interval_ms == 0 && spool_->options().fsync_bytes == 0;
    }
    const SpoolDelivery &delivery() const { return *delivery_; }

  private:
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<SpoolDelivery> delivery_;
    DeliveryMetricsRegistration metrics_;
};

} // namespace trib::core
