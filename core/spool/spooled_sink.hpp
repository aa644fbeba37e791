// A sink behind a disk spool ([sinks.spool]): write() appends the batch to the spool and
// answers OK once it is durable (BACKPRESSURE when the spool is full under `reject`, so the
// router retries and the bus ceiling turns it into 429 for clients); a delivery loop drains
// the spool into the real sink with retries and backoff. What is not delivered at shutdown
// stays on disk for the next start.
#pragma once

#include "spool/delivery_metrics.hpp"
#include "spool/spool_config.hpp"

#include "sinks/sink.hpp"

#include <memory>

namespace trib::core {

class SpooledSink : public Sink {
  public:
    using Log = SpoolDelivery::Log;
    SpooledSink(std::unique_ptr<Sink> inner, SpoolSetup setup, Log log);
    ~SpooledSink() override;

    const std::string &name() const override { return inner_->name(); }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;
    void flush() override;
    bool takes_joined_batches() const override { return false; }

    const Spool &spool() const { return *spool_; }
    const SpoolDelivery &delivery() const { return *delivery_; }

  private:
    std::unique_ptr<Sink> inner_;
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<SpoolDelivery> delivery_;
    DeliveryMetricsRegistration metrics_;
};

} // namespace trib::core
