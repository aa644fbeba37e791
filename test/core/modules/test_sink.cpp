// A sink module for the host's own tests: appends every point as line protocol to `path`.
// While the file `block_file` exists, write() blocks (a stuck downstream); while
// `retry_file` exists, write() answers RETRY. `delay_ms` makes every write that slow.
// With `attachments_dir`, every attachment's bytes as the module received them in
// trib_attachment.data go to <attachments_dir>/<profile_id>/<name>.
#include <tributary/plugin.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <thread>

namespace {

bool exists(const std::string &p) {
    struct stat st;
    return !p.empty() && ::stat(p.c_str(), &st) == 0;
}

std::string escape(std::string_view s, bool eq) {
    std::string o;
    for (char c : s) {
        if (c == ',' || c == ' ' || (eq && c == '=')) o.push_back('\\');
        o.push_back(c);
    }
    return o;
}

class TestSink final : public trib::Instance {
  public:
    TestSink(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config)
        : Instance(api, ctx, std::move(name)) {
        auto cfg = nlohmann::json::parse(config);
        path_ = cfg.value("path", std::string());
        block_file_ = cfg.value("block_file", std::string());
        retry_file_ = cfg.value("retry_file", std::string());
        delay_ms_ = cfg.value("delay_ms", 0);
        attachments_dir_ = cfg.value("attachments_dir", std::string());
        if (path_.empty()) throw std::runtime_error("test_sink needs `path`");
    }

    void write(const trib_batch &batch) override {
        if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
        while (exists(block_file_)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (exists(retry_file_)) throw trib::StatusError(TRIB_RETRY, "retry_file present");
        std::string out;
        for (auto &p : trib::copy_batch(batch)) {
            if (!attachments_dir_.empty() && !p.attachments.empty()) {
                auto *id = p.find_field("profile_id");
                std::string dir = attachments_dir_ + "/" + (id ? id->s : std::string("none"));
                ::mkdir(attachments_dir_.c_str(), 0755);
                ::mkdir(dir.c_str(), 0755);
                for (auto &a : p.attachments) {
                    std::ofstream af(dir + "/" + a.name, std::ios::binary | std::ios::trunc);
                    af << *a.data;
                }
            }
            out += escape(p.measurement, false);
            for (auto &t : p.tags) out += "," + escape(t.first, true) + "=" + escape(t.second, true);
            char sep = ' ';
            for (auto &f : p.fields) {
                out += sep;
                sep = ',';
                out += escape(f.key, true) + "=";
                switch (f.type) {
                case TRIB_FIELD_INT: out += std::to_string(f.i) + "i"; break;
                case TRIB_FIELD_UINT: out += std::to_string(f.u) + "u"; break;
                case TRIB_FIELD_FLOAT: out += std::to_string(f.f); break;
                case TRIB_FIELD_BOOL: out += f.b ? "true" : "false"; break;
                default: {
                    out += '"';
                    for (char c : f.s) {
                        if (c == '"' || c == '\\') out += '\\';
                        out += c;
                    }
                    out += '"';
                }
                }
            }
            out += " " + std::to_string(p.time_ns) + "\n";
        }
        std::ofstream f(path_, std::ios::app | std::ios::binary);
        f << out;
        if (!f) throw trib::StatusError(TRIB_RETRY, "cannot append to " + path_);
    }

  private:
    std::string path_, block_file_, retry_file_, attachments_dir_;
    int delay_ms_ = 0;
};

} // namespace

TRIB_DEFINE_MODULE(TestSink, "test_sink", "1.0.0", TRIB_KIND_SINK, "host test sink", "")
