// Edge label rules, usable by any sink:
//  - Prometheus relabel_config semantics on a label set (a point's tags): replace, keep,
//    drop, labeldrop, labelkeep, labelmap, lowercase, uppercase. Regexes are RE2 (the
//    syntax Prometheus uses), anchored at both ends, `.` matching newline.
//  - pprof sample-label rules (`scope = "pprof"`): rename a label, re-encode its value
//    (decimal string, 16-hex string, numeric label), drop or keep labels by name. The
//    pprof is rewritten at protobuf wire level: every field the rules do not touch,
//    unknown ones included, is copied byte for byte.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace re2 {
class RE2;
}

namespace trib::relabel {

// A rule table that cannot be used; the message names the rule and key.
struct RuleError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A pprof that cannot be read or rewritten.
struct PprofError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// `^(?s:<pattern>)$`, compiled once, shared by copies of a rule.
class Regex {
  public:
    explicit Regex(const std::string &pattern); // throws RuleError
    // Anchored match; on success groups[0] is the whole text, groups[i] group i.
    bool match(std::string_view text, std::vector<std::string_view> *groups = nullptr) const;
    // Prometheus/Go template expansion of `tmpl` against the groups of a match:
    // $1, ${1}, $name, ${name}; `$$` is a literal `$`; an unknown group expands to "".
    std::string expand(std::string_view tmpl, const std::vector<std::string_view> &groups) const;
    const std::string &pattern() const { return pattern_; }

  private:
    std::string pattern_;
    std::shared_ptr<const re2::RE2> re_;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class TagAction { replace, keep, drop, labeldrop, labelkeep, labelmap, lowercase, uppercase };

struct TagRule {
    TagAction action = TagAction::replace;
    std::vector<std::string> source_labels;
    std::string separator = ";";
    Regex regex{"(.*)"};
    bool default_regex = true;
    std::string target_label;
    std::string replacement = "$1";
};

// How a pprof label's value is written after a rule.
enum class ValueFormat {
    keep,    // as it is
    hex16,   // string label, 16 lowercase zero-padded hex digits (span ids as Pyroscope keeps them)
    decimal, // string label, decimal digits
    number   // numeric label (Label.num)
};
// How a string value is read when it is re-encoded.
enum class SourceFormat { decimal, hex };

enum class PprofAction { rename, labeldrop, labelkeep };

struct PprofRule {
    PprofAction action = PprofAction::rename;
    std::string source_label; // rename: the label key
    std::string target_label; // rename: the new key (default: source_label)
    Regex regex{"(.*)"};      // labeldrop / labelkeep: matched against keys
    ValueFormat value_format = ValueFormat::keep;
    SourceFormat source_format = SourceFormat::decimal;
};

struct Rules {
    std::vector<TagRule> tags;
    std::vector<PprofRule> pprof;
    bool empty() const { return tags.empty() && pprof.empty(); }
};

// The [[...relabel]] array as JSON (from TOML). Throws RuleError "relabel[<i>]: key '<k>': ...".
Rules parse_rules(const nlohmann::json &rules);

// Applies the tag rules in order. False: a keep/drop rule dropped the whole set.
bool apply_tag_rules(const std::vector<TagRule> &rules, Labels &labels);

// True for Pyroscope's legacy label-name rule: ASCII letters, digits, `_`, `.`, no
// leading digit, not empty.
bool legacy_label_name(std::string_view name);

struct PprofEdit {
    const std::vector<PprofRule> *rules = nullptr; // may be null or empty
    std::optional<int64_t> time_nanos;             // set Profile.time_nanos
    size_t max_output = 256u << 20;                // bound for the inflated profile
};

struct PprofRewriteStats {
    uint64_t labels_renamed = 0, labels_reencoded = 0, labels_dropped = 0, labels_unconvertible = 0;
    bool changed = false; // false: the input came back as it was
};

// Reads a pprof (gzip, zstd or plain), applies `edit`, returns the result gzip'd. When
// nothing changes and the input is gzip or plain, the input bytes are returned as they
// are (with no rules and no time_nanos, unread). Throws PprofError.
std::string rewrite_pprof(std::string_view data, const PprofEdit &edit, PprofRewriteStats *stats = nullptr);

// Codec helpers the rewrite uses (exposed for callers that re-encode parts as gzip, with
// trib::compression::gzip).
bool is_gzip(std::string_view data);
bool is_zstd(std::string_view data);
// gzip / zstd / plain → plain. Throws PprofError (corrupt, or larger than max_output).
std::string decompress(std::string_view data, size_t max_output);

// The level the rewrite gzips its output at: fast, the sink re-sends every part.
inline constexpr int kRewriteGzipLevel = 1;

} // namespace trib::relabel
