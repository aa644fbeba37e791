// Pyroscope's text formats: the `name` parameter, from/until, folded stacks, and
// pyroscope-go's sample_type_config.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_map>

namespace trib::profiling {

namespace {

bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}
bool app_char(char c) { return key_char(c) || c == '/' || c == ':'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

} // namespace

AppName parse_app_name(std::string_view name) {
    AppName out;
    size_t brace = name.find('{');
    std::string_view app = trim(name.substr(0, brace));
    if (app.empty()) throw DecodeError("name: the application name is empty");
    for (char c : app)
        if (!app_char(c)) throw DecodeError("name: invalid character '" + std::string(1, c) + "' in application name");
    out.app = std::string(app);
    if (brace == std::string_view::npos) return out;
    if (name.back() != '}') throw DecodeError("name: labels must end with '}'");
    std::string_view body = name.substr(brace + 1, name.size() - brace - 2);
    size_t pos = 0;
    while (pos <= body.size()) {
        size_t comma = body.find(',', pos);
        if (comma == std::string_view::npos) comma = body.size();
        std::string_view item = trim(body.substr(pos, comma - pos));
        pos = comma + 1;
        if (item.empty()) {
            if (comma == body.size()) break;
            continue; // tolerate "a=b,,c=d" and a trailing comma
        }
        size_t eq = item.find('=');
        if (eq == std::string_view::npos) throw DecodeError("name: label '" + std::string(item) + "' has no '='");
        std::string_view key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
        if (key.empty()) throw DecodeError("name: empty label key");
        for (char c : key)
            if (!key_char(c)) throw DecodeError("name: invalid character '" + std::string(1, c) + "' in label key '" + std::string(key) + "'");
        if (value.find('}') != std::string_view::npos || value.find('{') != std::string_view::npos)
            throw DecodeError("name: braces inside label value of '" + std::string(key) + "'");
        out.labels.emplace_back(std::string(key), std::string(value));
    }
    return out;
}

int64_t pyroscope_time_to_ns(std::string_view text) {
    text = trim(text);
    if (text.empty() || text.size() > 19) throw DecodeError("time '" + std::string(text) + "' is not an integer");
    int64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') throw DecodeError("time '" + std::string(text) + "' is not an integer");
        v = v * 10 + (c - '0');
    }
    // Seconds until year 5138; ms/µs/ns likewise by their digit count.
    if (v < 100'000'000'000LL) return v * 1'000'000'000;
    if (v < 100'000'000'000'000LL) return v * 1'000'000;
    if (v < 100'000'000'000'000'000LL) return v * 1'000;
    return v;
}

perftools::profiles::Profile folded_to_pprof(std::string_view text, bool lines_format, std::string_view units,
                                             int64_t sample_rate, int64_t start_ns, int64_t end_ns) {
    perftools::profiles::Profile p;
    std::unordered_map<std::string, int64_t> strings;
    auto str = [&](std::string_view s) {
        auto it = strings.find(std::string(s));
        if (it != strings.end()) return it->second;
        int64_t id = p.string_table_size();
        p.add_string_table(std::string(s));
        strings.emplace(std::string(s), id);
        return id;
    };
    str("");
    if (sample_rate <= 0) sample_rate = 100;
    // Pyroscope's units → pprof sample types; cpu samples also get their time.
    bool cpu = units.empty() || units == "samples";
    auto add_type = [&](const char *t, const char *u) {
        auto *vt = p.add_sample_type();
        vt->set_type(str(t));
        vt->set_unit(str(u));
    };
    if (cpu) {
        add_type("samples", "count");
        add_type("cpu", "nanoseconds");
        p.mutable_period_type()->set_type(str("cpu"));
        p.mutable_period_type()->set_unit(str("nanoseconds"));
        p.set_period(1'000'000'000 / sample_rate);
    } else if (units == "objects") add_type("inuse_objects", "count");
    else if (units == "bytes") add_type("inuse_space", "bytes");
    else if (units == "lock_samples") add_type("contentions", "count");
    else if (units == "lock_nanoseconds") add_type("delay", "nanoseconds");
    else if (units == "goroutines") add_type("goroutine", "count");
    else add_type(std::string(units).c_str(), "count");

    std::unordered_map<std::string, uint64_t> functions;
    std::unordered_map<std::string, size_t> samples;
    size_t line_no = 0, pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = trim(text.substr(pos, nl - pos));
        pos = nl + 1;
        ++line_no;
        if (line.empty()) continue;
        int64_t count = 1;
        std::string_view stack = line;
        if (!lines_format) {
            size_t sp = line.find_last_of(' ');
            if (sp == std::string_view::npos) throw DecodeError("folded line " + std::to_string(line_no) + ": no sample count");
            std::string_view num = line.substr(sp + 1);
            if (num.empty() || num.size() > 18 || !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; }))
                throw DecodeError("folded line " + std::to_string(line_no) + ": count '" + std::string(num) + "' is not an integer");
            count = std::stoll(std::string(num));
            stack = trim(line.substr(0, sp));
        }
        if (stack.empty()) throw DecodeError("folded line " + std::to_string(line_no) + ": empty stack");
        auto it = samples.find(std::string(stack));
        perftools::profiles::Sample *s;
        if (it != samples.end()) s = p.mutable_sample(int(it->second));
        else {
            // Folded stacks are root first; pprof wants the leaf first.
            std::vector<std::string_view> frames;
            size_t fpos = 0;
            while (fpos <= stack.size()) {
                size_t semi = stack.find(';', fpos);
                if (semi == std::string_view::npos) semi = stack.size();
                frames.push_back(stack.substr(fpos, semi - fpos));
                fpos = semi + 1;
            }
            s = p.add_sample();
            for (auto f = frames.rbegin(); f != frames.rend(); ++f) {
                std::string fname(f->empty() ? std::string_view("<unknown>") : *f);
                uint64_t id;
                if (auto fit = functions.find(fname); fit != functions.end()) id = fit->second;
                else {
                    id = uint64_t(p.function_size()) + 1;
                    auto *fn = p.add_function();
                    fn->set_id(id);
                    fn->set_name(str(fname));
                    fn->set_system_name(fn->name());
                    auto *loc = p.add_location();
                    loc->set_id(id);
                    loc->add_line()->set_function_id(id);
                    functions.emplace(std::move(fname), id);
                }
                s->add_location_id(id);
            }
            for (int i = 0; i < p.sample_type_size(); ++i) s->add_value(0);
            samples.emplace(std::string(stack), size_t(p.sample_size() - 1));
        }
        s->set_value(0, s->value(0) + count);
        if (cpu) s->set_value(1, s->value(1) + count * p.period());
    }
    if (p.sample_size() == 0) throw DecodeError("folded body holds no samples");
    p.set_time_nanos(start_ns);
    p.set_duration_nanos(end_ns > start_ns ? end_ns - start_ns : 0);
    return p;
}

std::string go_profile_file_name(std::string_view json_text) {
    nlohmann::json cfg;
    try {
        cfg = nlohmann::json::parse(json_text);
    } catch (const std::exception &e) {
        throw DecodeError(std::string("sample_type_config: ") + e.what());
    }
    if (!cfg.is_object()) throw DecodeError("sample_type_config: not a JSON object");
    for (auto &[key, val] : cfg.items()) {
        if (key == "goroutine" || key == "goroutines") return "goroutines.pprof";
        if (key.rfind("alloc_", 0) == 0 || key.rfind("inuse_", 0) == 0) return "delta-heap.pprof";
        if (key == "contentions" || key == "delay") {
            std::string display;
            if (val.is_object() && val.contains("display-name") && val["display-name"].is_string())
                display = val["display-name"].get<std::string>();
            if (display.find("mutex") != std::string::npos) return "delta-mutex.pprof";
            if (display.find("block") != std::string::npos) return "delta-block.pprof";
        }
    }
    return "cpu.pprof";
}

} // namespace trib::profiling
