#include <tributary/relabel/relabel.hpp>

#include <algorithm>
#include <cctype>
#include <set>

namespace trib::relabel {

namespace {

using json = nlohmann::json;

std::string lower(std::string s) {
    for (auto &c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

struct RuleReader {
    const json &t;
    std::string where;

    [[noreturn]] void fail(const std::string &key, const std::string &why) const {
        throw RuleError(where + ": key '" + key + "': " + why);
    }
    bool has(const char *key) const { return t.contains(key); }
    std::string str(const char *key, std::string def = {}) const {
        if (!t.contains(key)) return def;
        if (!t.at(key).is_string()) fail(key, "expected a string, got " + t.at(key).dump());
        return t.at(key).get<std::string>();
    }
    std::vector<std::string> list(const char *key) const {
        std::vector<std::string> out;
        if (!t.contains(key)) return out;
        const json &v = t.at(key);
        if (v.is_string()) return {v.get<std::string>()};
        if (!v.is_array()) fail(key, "expected a list of strings, got " + v.dump());
        for (auto &e : v) {
            if (!e.is_string()) fail(key, "expected a list of strings, got " + v.dump());
            out.push_back(e.get<std::string>());
        }
        return out;
    }
    Regex regex() const {
        try {
            return Regex(str("regex", "(.*)"));
        } catch (const RuleError &e) {
            fail("regex", e.what());
        }
    }
    void only(const std::set<std::string> &allowed) const {
        for (auto &[k, v] : t.items())
            if (!allowed.count(k)) fail(k, "not used by this action (allowed: " + join(allowed) + ")");
    }
    static std::string join(const std::set<std::string> &s) {
        std::string out;
        for (auto &x : s) out += (out.empty() ? "" : ", ") + x;
        return out;
    }
};

TagRule tag_rule(const RuleReader &r) {
    TagRule rule;
    std::string action = lower(r.str("action", "replace"));
    static const std::pair<const char *, TagAction> actions[] = {
        {"replace", TagAction::replace},     {"keep", TagAction::keep},           {"drop", TagAction::drop},
        {"labeldrop", TagAction::labeldrop}, {"labelkeep", TagAction::labelkeep}, {"labelmap", TagAction::labelmap},
        {"lowercase", TagAction::lowercase}, {"uppercase", TagAction::uppercase}};
    bool found = false;
    for (auto &[n, a] : actions)
        if (action == n) {
            rule.action = a;
            found = true;
        }
    if (!found)
        r.fail("action", "unknown action '" + action +
                             "' (replace, keep, drop, labeldrop, labelkeep, labelmap, lowercase, uppercase; "
                             "pprof rules take scope = \"pprof\")");
    rule.source_labels = r.list("source_labels");
    rule.separator = r.str("separator", ";");
    rule.regex = r.regex();
    rule.default_regex = !r.has("regex") || r.str("regex") == "(.*)";
    rule.target_label = r.str("target_label");
    rule.replacement = r.str("replacement", "$1");
    const std::set<std::string> common{"scope", "action",       "source_labels", "separator",
                                       "regex", "target_label", "replacement"};
    switch (rule.action) {
    case TagAction::replace:
    case TagAction::lowercase:
    case TagAction::uppercase:
        if (rule.target_label.empty()) r.fail("target_label", "required by action '" + action + "'");
        if (rule.action != TagAction::replace && r.has("replacement"))
            r.fail("replacement", "not used by action '" + action + "'");
        r.only(common);
        break;
    case TagAction::keep:
    case TagAction::drop:
        if (rule.source_labels.empty()) r.fail("source_labels", "required by action '" + action + "'");
        r.only({"scope", "action", "source_labels", "separator", "regex"});
        break;
    case TagAction::labeldrop:
    case TagAction::labelkeep:
        if (!r.has("regex")) r.fail("regex", "required by action '" + action + "'");
        r.only({"scope", "action", "regex"});
        break;
    case TagAction::labelmap: r.only({"scope", "action", "regex", "replacement"}); break;
    }
    return rule;
}

ValueFormat value_format(const RuleReader &r) {
    std::string f = lower(r.str("value_format", "keep"));
    if (f == "keep") return ValueFormat::keep;
    if (f == "hex16" || f == "hex") return ValueFormat::hex16;
    if (f == "decimal") return ValueFormat::decimal;
    if (f == "number" || f == "numeric") return ValueFormat::number;
    r.fail("value_format", "unknown format '" + f + "' (keep, hex16, decimal, number)");
}

PprofRule pprof_rule(const RuleReader &r) {
    PprofRule rule;
    std::string action = lower(r.str("action", "rename"));
    if (action == "rename") {
        auto src = r.list("source_labels");
        if (src.size() != 1) r.fail("source_labels", "rename takes exactly one sample label name");
        rule.source_label = src[0];
        rule.target_label = r.str("target_label", src[0]);
        if (rule.target_label.empty()) r.fail("target_label", "must not be empty");
        rule.value_format = value_format(r);
        std::string sf = lower(r.str("source_format", "decimal"));
        if (sf == "decimal") rule.source_format = SourceFormat::decimal;
        else if (sf == "hex" || sf == "hex16") rule.source_format = SourceFormat::hex;
        else r.fail("source_format", "unknown format '" + sf + "' (decimal, hex)");
        r.only({"scope", "action", "source_labels", "target_label", "value_format", "source_format"});
    } else if (action == "labeldrop" || action == "labelkeep") {
        rule.action = action == "labeldrop" ? PprofAction::labeldrop : PprofAction::labelkeep;
        if (!r.has("regex")) r.fail("regex", "required by action '" + action + "'");
        rule.regex = r.regex();
        r.only({"scope", "action", "regex"});
    } else {
        r.fail("action", "unknown pprof action '" + action + "' (rename, labeldrop, labelkeep)");
    }
    return rule;
}

} // namespace

Rules parse_rules(const nlohmann::json &rules) {
    Rules out;
    if (rules.is_object()) return parse_rules(json::array({rules}));
    if (!rules.is_array()) throw RuleError("relabel: expected [[...relabel]] tables, got " + rules.dump());
    for (size_t i = 0; i < rules.size(); ++i) {
        RuleReader r{rules[i], "relabel[" + std::to_string(i) + "]"};
        if (!rules[i].is_object()) throw RuleError(r.where + ": expected a table");
        std::string scope = lower(r.str("scope", "tags"));
        if (scope == "tags") out.tags.push_back(tag_rule(r));
        else if (scope == "pprof") out.pprof.push_back(pprof_rule(r));
        else r.fail("scope", "unknown scope '" + scope + "' (tags, pprof)");
    }
    return out;
}

} // namespace trib::relabel
