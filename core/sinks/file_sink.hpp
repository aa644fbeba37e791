// The default sink: line protocol appended to <root>/points/<category>/<measurement>.lp and
// attachments at <root>/attachments/<profile_id>/<name>, with every path part sanitised so
// nothing escapes the root. Attachments are there before the point's line, so a visible line
// always has its files: the host's attachment store (store/attachment_store.hpp) wrote them
// before the point was emitted, and for a sink whose root is the data dir that is the same
// file; another root gets a hard link (a copy across file systems). Bytes still in memory
// (a relabel rule rewrote them, or no store) are written here, atomically by rename.
#pragma once

#include "sinks/sink.hpp"
#include "store/attachment_store.hpp"

#include <cstdio>
#include <map>
#include <string>

namespace trib::core {

class FileSink final : public Sink {
  public:
    FileSink(std::string name, std::string root);
    ~FileSink() override;
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;
    // Joined batches written part by part (no copy of the points).
    trib_status write_parts(const std::vector<const std::vector<trib::Point> *> &parts, std::string &err) override;
    void flush() override;

  private:
    trib_status write_point(const trib::Point &p, std::string &err);
    std::FILE *stream_for(const std::string &category, const std::string &measurement, std::string &err);
    bool write_attachments(const trib::Point &p, std::string &err);

    std::string name_;
    std::string root_;
    std::map<std::string, std::FILE *> files_;
    // The stream of the last point's category and measurement: a run of spans or metrics
    // finds its file without building a key.
    std::string last_category_, last_measurement_;
    std::FILE *last_file_ = nullptr;
    std::string line_;
};

} // namespace trib::core
