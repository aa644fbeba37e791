// sdk.declared_config: every module that declares its config keys (trib_module_t.config_table,
// tributary/config_map.hpp) is held against its own <name>.conf.sample — the sample names
// every declared key (a commented `# key = ...` line or a `[inputs.x.key]` header counts) and
// no undeclared one — and configs/conf.d/<name>/ carries that same sample, not a second copy.
#include <tributary/config_map.hpp>
#include <tributary/plugin.h>

#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <sys/wait.h>

#include <cstdio>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Declared keys as dotted paths ("go.url"); `free` gets the tables whose contents are not
// declared (tags, io_config, close_resource): any key may appear under them.
void declared_paths(const json &keys, const std::string &prefix, std::set<std::string> &out,
                    std::set<std::string> &aliases, std::set<std::string> &free) {
    for (auto &k : keys) {
        std::string path = prefix + k["name"].get<std::string>();
        out.insert(path);
        if (k.contains("aliases"))
            for (auto &a : k["aliases"]) aliases.insert(prefix + a.get<std::string>());
        if (k["type"] == "table") free.insert(path);
        if (k["type"] == "section") declared_paths(k["keys"], path + ".", out, aliases, free);
    }
}

struct SampleCheck {
    std::set<std::string> missing;    // declared, not named by the sample
    std::set<std::string> undeclared; // named by the sample, not declared
};

// Reads the keys a sample names inside [[inputs.<module>]]: `key = v` and `# key = v` lines
// (doc lines start with "##") and sub-table headers, commented or not.
SampleCheck check_sample(const std::string &module, const json &table, const std::string &sample) {
    std::set<std::string> declared, aliases, free;
    declared_paths(table.at("keys"), "", declared, aliases, free);
    std::set<std::string> named;
    const std::string root = "inputs." + module;
    std::optional<std::string> current; // table path inside the module's table; none = elsewhere
    std::istringstream in(sample);
    for (std::string line; std::getline(in, line);) {
        std::string t = trim(line);
        if (t.rfind("##", 0) == 0) continue;
        if (!t.empty() && t[0] == '#') t = trim(t.substr(1));
        if (t.empty()) continue;
        if (t[0] == '[') {
            std::string name = t.substr(t.find_first_not_of('['));
            name = trim(name.substr(0, name.find(']')));
            if (name == root) current = "";
            else if (name.rfind(root + ".", 0) == 0) {
                current = name.substr(root.size() + 1);
                named.insert(*current);
            } else current.reset();
            continue;
        }
        size_t eq = t.find('=');
        if (!current || eq == std::string::npos) continue;
        std::string key = trim(t.substr(0, eq));
        bool bare =
            !key.empty() && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos;
        if (!bare) continue; // prose, or a quoted key of a free table ("*" = [...])
        if (free.count(*current)) continue;
        named.insert(current->empty() ? key : *current + "." + key);
    }
    SampleCheck r;
    for (auto &d : declared)
        if (!named.count(d)) r.missing.insert(d);
    for (auto &n : named) {
        bool inside_free = false;
        for (auto &f : free) inside_free |= n.rfind(f + ".", 0) == 0;
        if (!declared.count(n) && !aliases.count(n) && !inside_free) r.undeclared.insert(n);
    }
    return r;
}

std::string joined(const std::set<std::string> &s) {
    std::string out;
    for (auto &x : s) out += (out.empty() ? "" : ", ") + x;
    return out;
}

struct Module {
    std::string name;
    fs::path so;
    std::string config_table; // empty: none declared
    std::string sample_config;
};

Module load(const fs::path &so) {
    void *h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    INFO(so.string() << ": " << (h ? "" : dlerror()));
    REQUIRE(h);
    auto entry = reinterpret_cast<trib_module_entry_fn>(dlsym(h, TRIB_ENTRY_SYMBOL));
    REQUIRE(entry);
    const trib_module_t *d = entry(TRIB_ABI_MAJOR, TRIB_ABI_MINOR_CURRENT);
    REQUIRE(d);
    Module m{d->name, so, "", d->sample_config ? d->sample_config : ""};
    if (TRIB_HAS_FIELD(trib_module_t, d, config_table) && d->config_table) m.config_table = d->config_table;
    return m; // never dlclose'd, as the host does
}

// The module's own sample in the source tree.
fs::path sample_of(const std::string &name) {
    for (fs::path p : {fs::path(TRIB_SOURCE_DIR) / "plugins" / name / (name + ".conf.sample"),
                       fs::path(TRIB_SOURCE_DIR) / "sdk" / "examples" / name / (name + ".conf.sample")})
        if (fs::exists(p)) return p;
    return {};
}

} // namespace

TEST_CASE("declared config: the check reports missing and undeclared keys", "[sdk][declared_config]") {
    auto m = trib::config::ConfigMap::input("demo");
    m.integer("workers", 4, "threads");
    m.table("tags", true, "extra tags");
    trib::config::ConfigMap pull;
    pull.string("url", std::nullopt, "where").required();
    m.section("pull", std::move(pull), true, "targets");
    const json table = m.describe();
    const std::string full = "[[inputs.demo]]\n  ## doc line: workers = 8 does not count\n  workers = 4\n"
                             "  # [inputs.demo.tags]\n  #   anything = \"x\"\n#[[inputs.demo.pull]]\n  #url = \"u\"\n";
    SampleCheck ok = check_sample("demo", table, full);
    CHECK(ok.missing.empty());
    CHECK(ok.undeclared.empty());

    SampleCheck no_url = check_sample("demo", table,
                                      "[[inputs.demo]]\n  workers = 4\n  [inputs.demo.tags]\n"
                                      "[[inputs.demo.pull]]\n");
    CHECK(no_url.missing == std::set<std::string>{"pull.url"});
    SampleCheck doc_only = check_sample("demo", table, "[[inputs.demo]]\n  ## workers = 4\n");
    CHECK(doc_only.missing == std::set<std::string>{"pull", "pull.url", "tags", "workers"});
    SampleCheck extra = check_sample("demo", table, full + "  # retries = 1\n");
    CHECK(extra.undeclared == std::set<std::string>{"pull.retries"});
    SampleCheck extra_root =
        check_sample("demo", table, "[[inputs.demo]]\n  # speed = 2\n" + full.substr(full.find('\n') + 1));
    CHECK(extra_root.undeclared == std::set<std::string>{"speed"});
}

TEST_CASE("declared config: every module's sample names exactly its declared keys", "[sdk][declared_config]") {
    std::vector<fs::path> files;
    for (fs::path dir : {fs::path(TRIB_BUILD_DIR) / "plugins", fs::path(TRIB_SDK_EXT_PLUGINS_DIR)})
        for (auto &e : fs::directory_iterator(dir))
            if (e.path().extension() == ".so") files.push_back(e.path());
    std::set<std::string> with_table;
    for (auto &so : files) {
        Module m = load(so);
        if (m.config_table.empty()) continue;
        with_table.insert(m.name);
        {
            json table = json::parse(m.config_table);
            CHECK(table["section"] == "inputs." + m.name);
            fs::path sample = sample_of(m.name);
            INFO("module " << m.name << " (" << so.string() << "), sample " << sample.string());
            REQUIRE_FALSE(sample.empty());
            const std::string text = read_file(sample);
            bool descriptor_embeds_this_file = m.sample_config == text; // stale build otherwise
            CHECK(descriptor_embeds_this_file);
            SampleCheck r = check_sample(m.name, table, text);
            INFO("declared but not in the sample: " << joined(r.missing));
            INFO("in the sample but not declared: " << joined(r.undeclared));
            CHECK(r.missing.empty());
            CHECK(r.undeclared.empty());
        }
    }
    // The four modules that declare their keys with config_map.hpp (the check is not vacuous).
    for (const char *name : {"profile", "pyroscope", "pinpoint", "example_input"}) {
        INFO("module " << name << " has no declared config table");
        CHECK(with_table.count(name));
    }
}

TEST_CASE("declared config: configs/conf.d carries each module's own sample", "[sdk][declared_config]") {
    size_t checked = 0;
    for (auto &dir : fs::directory_iterator(fs::path(TRIB_SOURCE_DIR) / "configs" / "conf.d")) {
        if (!dir.is_directory()) continue;
        for (auto &f : fs::directory_iterator(dir.path())) {
            if (f.path().extension() != ".sample") continue;
            std::string input = dir.path().filename().string();
            fs::path own = sample_of(input);
            INFO(f.path().string() << " (input " << input << ")");
            REQUIRE_FALSE(own.empty());
            // A link into the module folder (or, where links cannot be used, the same bytes).
            CHECK(read_file(f.path()) == read_file(own));
            ++checked;
        }
    }
    CHECK(checked >= 3);
}

namespace {

// Runs the host binary with `args`; stdout+stderr and the exit status.
std::pair<int, std::string> run_host(const std::string &args) {
    std::string cmd =
        std::string(TRIB_BUILD_DIR) + "/bin/tributary --plugins-dir " + TRIB_BUILD_DIR + "/plugins " + args + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// The row of `key` in --describe-config output (the line that starts with it).
std::string row_of(const std::string &out, const std::string &key) {
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + " ", 0) == 0) return line;
    return {};
}

} // namespace

TEST_CASE("declared config: tributary --describe-config prints the declared table", "[sdk][declared_config][cli]") {
    auto [code, out] = run_host("--describe-config pinpoint");
    INFO(out);
    REQUIRE(code == 0);
    CHECK(out.rfind("[[inputs.pinpoint]] keys of module pinpoint\n", 0) == 0);
    std::string header = row_of(out, "KEY");
    for (const char *col : {"TYPE", "DEFAULT", "RANGE", "ENV", "DOC"}) CHECK(header.find(col) != std::string::npos);
    std::string max_message = row_of(out, "max_message_mb");
    CHECK(max_message.find("int") != std::string::npos);
    CHECK(max_message.find("16") != std::string::npos);
    CHECK(max_message.find("[1, 1024]") != std::string::npos);
    CHECK(max_message.find("ENV_INPUT_PINPOINT_MAX_MESSAGE_MB") != std::string::npos);
    CHECK(max_message.find("gRPC receive limit") != std::string::npos);
    CHECK(row_of(out, "storage.capacity").find(">= 1") != std::string::npos);
    CHECK(row_of(out, "storage.path").find("alias storage") != std::string::npos);

    auto [pcode, profile] = run_host("--describe-config profile");
    INFO(profile);
    REQUIRE(pcode == 0);
    CHECK(row_of(profile, "go").find("[[table]]") != std::string::npos);
    CHECK(row_of(profile, "go[].url").find("(required)") != std::string::npos);
    CHECK(row_of(profile, "go[].interval").find("\"10s\"") != std::string::npos);
    CHECK(row_of(profile, "go[].enabled_types").find("one of: cpu, goroutine, heap, mutex, block") !=
          std::string::npos);
    CHECK(row_of(profile, "pyroscope[].header_timeout").find("duration") != std::string::npos);

    // The pyroscope input and the pyroscope sink share a name; the input declares its table.
    auto [ycode, pyroscope] = run_host("--describe-config pyroscope");
    INFO(pyroscope);
    CHECK(ycode == 0);
    CHECK(pyroscope.rfind("[[inputs.pyroscope]] keys of module pyroscope\n", 0) == 0);
    CHECK(row_of(pyroscope, "body_size_limit_mb").find("(0, ") == std::string::npos); // no upper bound here
    CHECK(row_of(pyroscope, "body_size_limit_mb").find("> 0") != std::string::npos);

    auto [ucode, unknown] = run_host("--describe-config no_such_module");
    CHECK(ucode == 1);
    CHECK(unknown.find("no module named 'no_such_module'") != std::string::npos);
    CHECK(unknown.find("pinpoint") != std::string::npos); // the loaded ones are listed
}
