// A sink module (kind TRIB_KIND_SINK) seen as a core Sink: each batch goes to the module's
// write() as a borrowed trib_batch view.
#pragma once

#include "host/instance.hpp"
#include "sinks/sink.hpp"

namespace trib::core {

class ModuleSink final : public Sink {
  public:
    // `instance` is created and started by the host and outlives this sink.
    ModuleSink(std::string name, ModuleInstance &instance) : name_(std::move(name)), instance_(instance) {}
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;
    // Joined batches as one view over them (no copy of the points).
    trib_status write_parts(const std::vector<const std::vector<trib::Point> *> &parts, std::string &err) override;
    // TRIB_MODULE_BATCHED_WRITES: 100 ms.
    std::chrono::milliseconds write_linger() const override;

  private:
    std::string name_;
    ModuleInstance &instance_;
};

} // namespace trib::core
