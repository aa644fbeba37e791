// Writes every point as line protocol to the host's stdout.
#pragma once

#include "sinks/sink.hpp"

namespace trib::core {

class StdoutSink final : public Sink {
  public:
    explicit StdoutSink(std::string name) : name_(std::move(name)) {}
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;
    void flush() override;

  private:
    std::string name_;
};

} // namespace trib::core
