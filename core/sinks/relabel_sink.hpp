// A sink's [[sinks.relabel]] rules in front of it: every batch is copied, its points'
// tags relabelled (a keep/drop rule may leave a point out), and its pprof attachments
// rewritten by the `scope = "pprof"` rules. Only this sink's copy changes: other sinks,
// the file sink's store among them, get the points as they were. Attachments the rules
// do not change are shared, not copied.
#pragma once

#include "sinks/sink.hpp"

#include <tributary/relabel/relabel.hpp>

#include <atomic>
#include <memory>

namespace trib::core {

class RelabelSink final : public Sink {
  public:
    RelabelSink(std::unique_ptr<Sink> inner, std::shared_ptr<const trib::relabel::Rules> rules)
        : inner_(std::move(inner)), rules_(std::move(rules)) {}
    const std::string &name() const override { return inner_->name(); }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;
    void flush() override { inner_->flush(); }
    bool takes_joined_batches() const override { return inner_->takes_joined_batches(); }

    // Whether the attachment is a pprof the rules should read (by name, or by the point's
    // `format` field for parts with other names).
    static bool is_pprof_attachment(const trib::Point &p, const trib::Attachment &a);

  private:
    std::unique_ptr<Sink> inner_;
    std::shared_ptr<const trib::relabel::Rules> rules_;
    std::atomic<uint64_t> points_dropped_{0}, pprof_failures_{0};
};

} // namespace trib::core
