// Election backend "none": this host always leads.
#pragma once

#include "election/election.hpp"

namespace trib::core {

class NoneElection final : public Election {
  public:
    void start(std::function<void(bool)> on_change) override {
        if (on_change) on_change(true);
    }
    void stop() override {}
    bool is_leader() const override { return true; }
    std::string role() const override { return "leader"; }
    std::string backend() const override { return "none"; }
};

} // namespace trib::core
