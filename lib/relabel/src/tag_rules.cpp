#include <tributary/relabel/relabel.hpp>

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

namespace trib::relabel {

Regex::Regex(const std::string &pattern) : pattern_(pattern) {
    RE2::Options o;
    o.set_log_errors(false);
    // Prometheus compiles ^(?s:<regex>)$: anchored, and `.` also matches newline.
    auto re = std::make_shared<RE2>("^(?s:" + pattern + ")$", o);
    if (!re->ok()) throw RuleError("regex '" + pattern + "': " + re->error());
    re_ = std::move(re);
}

bool Regex::match(std::string_view text, std::vector<std::string_view> *groups) const {
    re2::StringPiece in(text.data(), text.size());
    if (!groups) return re_->Match(in, 0, in.size(), RE2::ANCHOR_BOTH, nullptr, 0);
    int n = re_->NumberOfCapturingGroups() + 1;
    std::vector<re2::StringPiece> sub(static_cast<size_t>(n));
    if (!re_->Match(in, 0, in.size(), RE2::ANCHOR_BOTH, sub.data(), n)) return false;
    groups->assign(size_t(n), std::string_view());
    for (int i = 0; i < n; ++i)
        if (sub[size_t(i)].data())
            (*groups)[size_t(i)] = std::string_view(sub[size_t(i)].data(), sub[size_t(i)].size());
    return true;
}

namespace {
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
} // namespace

std::string Regex::expand(std::string_view tmpl, const std::vector<std::string_view> &groups) const {
    std::string out;
    for (size_t i = 0; i < tmpl.size();) {
        if (tmpl[i] != '$' || i + 1 >= tmpl.size()) {
            out += tmpl[i++];
            continue;
        }
        if (tmpl[i + 1] == '$') {
            out += '$';
            i += 2;
            continue;
        }
        std::string_view name;
        size_t next;
        if (tmpl[i + 1] == '{') {
            size_t close = tmpl.find('}', i + 2);
            if (close == std::string_view::npos) {
                out += tmpl[i++];
                continue;
            }
            name = tmpl.substr(i + 2, close - i - 2);
            next = close + 1;
        } else {
            size_t j = i + 1;
            while (j < tmpl.size() && name_char(tmpl[j])) ++j;
            if (j == i + 1) {
                out += tmpl[i++];
                continue;
            }
            name = tmpl.substr(i + 1, j - i - 1);
            next = j;
        }
        // Go's rule: a name of digits only is a group number; `$1x` names the group "1x".
        bool digits =
            !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits) {
            size_t idx = name.size() > 6 ? groups.size() : size_t(std::stoul(std::string(name)));
            if (idx < groups.size()) out += groups[idx];
        } else {
            auto &named = re_->NamedCapturingGroups();
            auto it = named.find(std::string(name));
            if (it != named.end() && size_t(it->second) < groups.size()) out += groups[size_t(it->second)];
        }
        i = next;
    }
    return out;
}

bool legacy_label_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    for (char c : name)
        if (!name_char(c) && c != '.') return false;
    return true;
}

namespace {

const std::string *find_label(const Labels &labels, std::string_view name) {
    for (auto &kv : labels)
        if (kv.first == name) return &kv.second;
    return nullptr;
}

// An empty value deletes the label (an empty label is the same as no label).
void set_label(Labels &labels, const std::string &name, std::string value) {
    auto it = std::find_if(labels.begin(), labels.end(), [&](auto &kv) { return kv.first == name; });
    if (value.empty()) {
        if (it != labels.end()) labels.erase(it);
        return;
    }
    if (it != labels.end()) it->second = std::move(value);
    else labels.emplace_back(name, std::move(value));
}

std::string joined_value(const TagRule &r, const Labels &labels) {
    std::string v;
    for (size_t i = 0; i < r.source_labels.size(); ++i) {
        if (i) v += r.separator;
        if (auto *x = find_label(labels, r.source_labels[i])) v += *x;
    }
    return v;
}

bool has_variable(const std::string &s) { return s.find('$') != std::string::npos; }

} // namespace

bool apply_tag_rules(const std::vector<TagRule> &rules, Labels &labels) {
    std::vector<std::string_view> groups;
    for (auto &r : rules) {
        switch (r.action) {
        case TagAction::keep:
            if (!r.regex.match(joined_value(r, labels))) return false;
            break;
        case TagAction::drop:
            if (r.regex.match(joined_value(r, labels))) return false;
            break;
        case TagAction::replace: {
            std::string val = joined_value(r, labels);
            if (val.empty() && r.default_regex && !has_variable(r.target_label) && !has_variable(r.replacement)) {
                set_label(labels, r.target_label, r.replacement);
                break;
            }
            if (!r.regex.match(val, &groups)) break;
            std::string target = r.regex.expand(r.target_label, groups);
            if (target.empty()) break; // not a valid label name: the rule is skipped
            set_label(labels, target, r.regex.expand(r.replacement, groups));
            break;
        }
        case TagAction::lowercase:
        case TagAction::uppercase: {
            std::string val = joined_value(r, labels);
            for (auto &c : val)
                c = char(r.action == TagAction::lowercase ? std::tolower(static_cast<unsigned char>(c))
                                                          : std::toupper(static_cast<unsigned char>(c)));
            set_label(labels, r.target_label, std::move(val));
            break;
        }
        case TagAction::labeldrop:
        case TagAction::labelkeep: {
            bool drop_matching = r.action == TagAction::labeldrop;
            labels.erase(std::remove_if(labels.begin(), labels.end(),
                                        [&](auto &kv) { return r.regex.match(kv.first) == drop_matching; }),
                         labels.end());
            break;
        }
        case TagAction::labelmap: {
            Labels snapshot = labels;
            for (auto &kv : snapshot) {
                if (!r.regex.match(kv.first, &groups)) continue;
                std::string target = r.regex.expand(r.replacement, groups);
                if (!target.empty()) set_label(labels, target, kv.second);
            }
            break;
        }
        }
    }
    return true;
}

} // namespace trib::relabel
