// example_sink: a Tributary sink module written against the SDK alone. It appends every
// point it is given as one JSON line to the file named by `path`:
//   {"measurement":..,"category":..,"time_ns":..,"tags":{..},"fields":{..},
//    "attachments":[{"name":..,"content_type":..,"size":..}]}
// Integer, float, bool and string fields keep their JSON type; bytes fields are written
// as {"base64": "..."}. Attachment bytes are not copied into the line, only name + size.
#include <tributary/plugin.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "example_sink_sample_config.inc"

namespace {

using trib::StatusError;
using trib::sv;

std::string base64(std::string_view in) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    if (size_t rest = in.size() - i) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16 | (rest == 2 ? uint32_t(uint8_t(in[i + 1])) << 8 : 0);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += rest == 2 ? tbl[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

nlohmann::json field_value(const trib_field &f) {
    switch (f.type) {
    case TRIB_FIELD_INT: return f.value.i;
    case TRIB_FIELD_UINT: return f.value.u;
    case TRIB_FIELD_FLOAT: return f.value.f;
    case TRIB_FIELD_BOOL: return f.value.b;
    case TRIB_FIELD_STRING: return std::string(sv(f.value.s));
    case TRIB_FIELD_BYTES: return nlohmann::json{{"base64", base64(sv(f.value.bytes))}};
    default:
        throw StatusError(TRIB_INVALID_ARGUMENT,
                          "field '" + std::string(sv(f.key)) + "' has unknown type " + std::to_string(f.type));
    }
}

std::string point_line(const trib_point &p) {
    nlohmann::json tags = nlohmann::json::object(), fields = nlohmann::json::object(), atts = nlohmann::json::array();
    for (size_t i = 0; i < p.tag_count; ++i) {
        const trib_tag *t = TRIB_AT(trib_tag, p.tags, i);
        tags[std::string(sv(t->key))] = std::string(sv(t->value));
    }
    for (size_t i = 0; i < p.field_count; ++i) {
        const trib_field *f = TRIB_AT(trib_field, p.fields, i);
        fields[std::string(sv(f->key))] = field_value(*f);
    }
    for (size_t i = 0; i < p.attachment_count; ++i) {
        const trib_attachment *a = TRIB_AT(trib_attachment, p.attachments, i);
        atts.push_back({{"name", std::string(sv(a->name))},
                        {"content_type", std::string(sv(a->content_type))},
                        {"size", a->data.len}});
    }
    nlohmann::json j = {{"measurement", std::string(sv(p.measurement))},
                        {"category", std::string(sv(p.category))},
                        {"time_ns", p.time_ns},
                        {"tags", std::move(tags)},
                        {"fields", std::move(fields)},
                        {"attachments", std::move(atts)}};
    // Points may carry bytes that are not UTF-8 in strings: replace, never fail the batch.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string config_path(const std::string &json_text) {
    nlohmann::json cfg = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_discarded() || !cfg.is_object()) throw StatusError(TRIB_INVALID_ARGUMENT, "config is not a JSON object");
    auto it = cfg.find("path");
    if (it == cfg.end())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key 'path': required (file to append JSON lines to)");
    if (!it->is_string() || it->get<std::string>().empty())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key 'path': expected a non-empty string, got " + it->dump());
    return it->get<std::string>();
}

class ExampleSink : public trib::Instance {
  public:
    ExampleSink(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), path_(config_path(config_json)) {}
    ~ExampleSink() override {
        if (fd_ >= 0) ::close(fd_);
    }

    void start() override {
        std::filesystem::path p(path_);
        std::error_code ec;
        if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
        if (ec)
            throw StatusError(TRIB_INVALID_ARGUMENT,
                              "key 'path': cannot create " + p.parent_path().string() + ": " + ec.message());
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'path': cannot open " + path_ + ": " + std::strerror(errno));
    }

    void stop() override {
        std::lock_guard<std::mutex> g(mu_);
        if (fd_ >= 0) ::fsync(fd_);
    }

    // The sink's own host thread, one batch at a time.
    void write(const trib_batch &batch) override {
        std::string text;
        for (size_t i = 0; i < batch.point_count; ++i) {
            text += point_line(*TRIB_AT(trib_point, batch.points, i));
            text += '\n';
        }
        std::lock_guard<std::mutex> g(mu_);
        if (fd_ < 0) throw StatusError(TRIB_RETRY, "sink not started");
        // One write() per batch on an O_APPEND file, so lines of concurrent writers
        // (e.g. two hosts on one file) do not interleave mid-line.
        size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw StatusError(TRIB_RETRY, "write " + path_ + ": " + std::strerror(errno));
            done += size_t(n);
        }
        host().counter_add("lines_written", double(batch.point_count));
    }

  private:
    std::string path_;
    std::mutex mu_;
    int fd_ = -1;
};

} // namespace

TRIB_DEFINE_MODULE(ExampleSink, "example_sink", "1.0.0", TRIB_KIND_SINK,
                   "SDK example: writes every point as one JSON line", example_sink_sample_config)
