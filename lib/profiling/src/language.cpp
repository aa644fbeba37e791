#include <tributary/profiling/language.hpp>

#include <array>
#include <utility>

namespace trib::profiling {

namespace {

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (auto &c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

// Names matched only as the whole value: as substrings they would hit unrelated words
// ("go" in "mongo", "js" in "json", "c" in everything).
constexpr std::pair<std::string_view, std::string_view> kExact[] = {
    {"javascript", "nodejs"}, {"nodejs", "nodejs"}, {"node.js", "nodejs"},    {"node", "nodejs"}, {"js", "nodejs"},
    {"java", "java"},         {"jvm", "java"},      {"kotlin", "java"},       {"scala", "java"},  {"python", "python"},
    {"cpython", "python"},    {"py", "python"},     {"golang", "golang"},     {"go", "golang"},   {"dotnet", "dotnet"},
    {".net", "dotnet"},       {"c#", "dotnet"},     {"csharp", "dotnet"},     {"php", "php"},     {"ruby", "ruby"},
    {"rb", "ruby"},           {"rust", "rust"},     {"pyroscope-rs", "rust"}, {"cpp", "cpp"},     {"c++", "cpp"},
    {"cplusplus", "cpp"},
};

// Substring rules, longest names first so a longer name wins over one it contains
// (javascript before java, pyroscope-rs before rust, cpython before python).
constexpr std::pair<std::string_view, std::string_view> kContains[] = {
    {"pyroscope-rs", "rust"}, {"javascript", "nodejs"}, {"cplusplus", "cpp"}, {"node.js", "nodejs"},
    {"cpython", "python"},    {"csharp", "dotnet"},     {"python", "python"}, {"kotlin", "java"},
    {"golang", "golang"},     {"dotnet", "dotnet"},     {"nodejs", "nodejs"}, {"scala", "java"},
    {"ruby", "ruby"},         {"rust", "rust"},         {"java", "java"},     {".net", "dotnet"},
    {"node", "nodejs"},       {"c++", "cpp"},           {"jvm", "java"},      {"php", "php"},
};

} // namespace

std::string detect_language(const std::vector<std::string_view> &candidates) {
    for (auto c : candidates) {
        if (c.empty()) continue;
        std::string v = lowercase(c);
        for (auto &[name, lang] : kExact)
            if (v == name) return std::string(lang);
        for (auto &[name, lang] : kContains)
            if (v.find(name) != std::string::npos) return std::string(lang);
    }
    return "unknown";
}

std::string language_from_spy(std::string_view spy_name) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kSpies{{
        {"gospy", "golang"},
        {"javaspy", "java"},
        {"nodespy", "nodejs"},
        {"pyspy", "python"},
        {"rbspy", "ruby"},
        {"dotnetspy", "dotnet"},
        {"phpspy", "php"},
        {"ebpfspy", "ebpf"},
        {"pyroscope-rs", "rust"},
    }};
    std::string v = lowercase(spy_name);
    for (auto &[spy, lang] : kSpies)
        if (v == spy) return std::string(lang);
    return detect_language({spy_name});
}

} // namespace trib::profiling
