// The default sink: line protocol appended to <root>/points/<category>/<measurement>.lp and
// attachments written to <root>/attachments/<profile_id>/<name>, with every path part
// sanitised so nothing escapes the root. Attachments are written (atomically, by rename)
// before the point's line, so a visible line always has its files.
#pragma once

#include "sinks/sink.hpp"

#include <cstdio>
#include <map>
#include <string>

namespace trib::core {

// A single safe file-name component: no '/', '\\', NUL or control characters, not "." or
// "..", at most 200 bytes; empty becomes "_".
std::string sanitize_path_component(std::string_view name);

class FileSink final : public Sink {
  public:
    FileSink(std::string name, std::string root);
    ~FileSink() override;
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;
    void flush() override;

  private:
    std::FILE *stream_for(const std::string &category, const std::string &measurement, std::string &err);
    bool write_attachments(const trib::Point &p, std::string &err);

    std::string name_;
    std::string root_;
    std::map<std::string, std::FILE *> files_;
    std::string line_;
};

} // namespace trib::core
