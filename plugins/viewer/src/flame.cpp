#include "flame.hpp"

#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>
#include <tributary/profiling/pprof.hpp>

#include <google/protobuf/arena.h>

#include <algorithm>
#include <limits>
#include <deque>
#include <mutex>
#include <shared_mutex>

namespace trib::viewer {

namespace pp = perftools::profiles;

namespace {
bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const std::string &str(const pp::Profile &p, int64_t i) {
    static const std::string empty;
    return i >= 0 && i < p.string_table_size() ? p.string_table(int(i)) : empty;
}

// Time units are normalised to nanoseconds so uploads from different clients add up.
int64_t unit_scale(const std::string &unit) {
    if (unit == "microseconds") return 1000;
    if (unit == "milliseconds") return 1000000;
    if (unit == "seconds") return 1000000000;
    return 1;
}
std::string normalised_unit(const std::string &unit) {
    return unit_scale(unit) != 1 ? std::string("nanoseconds") : unit;
}
} // namespace

namespace {
// Function names of every tree, interned once per process (append-only; ids stay valid).
class NamePool {
  public:
    uint32_t intern(const std::string &name) {
        {
            std::shared_lock<std::shared_mutex> g(mu_);
            auto it = ids_.find(name);
            if (it != ids_.end()) return it->second;
        }
        std::unique_lock<std::shared_mutex> g(mu_);
        auto it = ids_.find(name);
        if (it != ids_.end()) return it->second;
        names_.push_back(name);
        uint32_t id = uint32_t(names_.size() - 1);
        ids_.emplace(names_.back(), id);
        return id;
    }
    const std::string &name(uint32_t id) {
        std::shared_lock<std::shared_mutex> g(mu_);
        return names_[id];
    }

  private:
    std::shared_mutex mu_;
    std::deque<std::string> names_;
    std::unordered_map<std::string_view, uint32_t> ids_;
};

NamePool &pool() {
    static NamePool *p = new NamePool; // never destroyed: worker threads may outlive statics
    return *p;
}
uint32_t intern(const std::string &name) { return pool().intern(name); }
} // namespace

bool is_sample_file(std::string_view name) {
    return name != "event.json" && name != "labels" && name != "metrics.json" && name.rfind("prev_", 0) != 0 &&
           !ends_with(name, ".json");
}

std::vector<pp::Profile> decode_profile_file(const ProfileFile &file, const ProfileFile *labels) {
    std::vector<pp::Profile> out;
    if (ends_with(file.name, ".jfr")) {
        std::optional<trib::profiling::LabelsSnapshotView> view;
        if (labels) {
            try {
                view = trib::profiling::LabelsSnapshotView::parse(labels->data);
            } catch (const trib::profiling::DecodeError &) {}
        }
        auto j = trib::profiling::decode_jfr(file.data, view ? &*view : nullptr);
        if (j.has_cpu) out.push_back(std::move(j.cpu));
        if (j.has_alloc) out.push_back(std::move(j.alloc));
        if (j.has_lock) out.push_back(std::move(j.lock));
    } else {
        out.push_back(trib::profiling::parse_pprof(file.data));
    }
    return out;
}

const std::vector<std::string> &type_candidates(const std::string &type) {
    static const std::map<std::string, std::vector<std::string>> aliases = {
        {"lock", {"lock", "delay", "contentions", "lock_time", "lock_count"}},
        {"alloc", {"alloc", "alloc_space", "alloc_in_new_tlab_bytes"}},
        {"heap", {"heap", "inuse_space", "space"}},
        {"inuse_space", {"inuse_space", "space"}},
        {"inuse", {"inuse", "inuse_space", "space"}},
    };
    auto it = aliases.find(type);
    if (it != aliases.end()) return it->second;
    thread_local std::vector<std::string> just_one(1);
    just_one[0] = type;
    return just_one;
}

int pick_sample_type(const pp::Profile &p, const std::string &type) {
    for (auto &name : type_candidates(type))
        if (int i = trib::profiling::find_sample_type(p, name); i >= 0) return i;
    return -1;
}

namespace {
// Each thread parses into one reused first block (fresh blocks each upload were page
// faults), then blocks that grow: an upload inflates to hundreds of KB of messages.
google::protobuf::ArenaOptions arena_options() {
    thread_local std::vector<char> first_block(1 << 20);
    google::protobuf::ArenaOptions o;
    o.initial_block = first_block.data();
    o.initial_block_size = first_block.size();
    o.start_block_size = 256 << 10;
    o.max_block_size = 4 << 20;
    return o;
}

// Calls fn with every profile decoded from an upload's sample files (a JFR recording gives
// several; its `labels` file attaches span labels). Files that do not decode are skipped:
// not a profile this viewer reads (folded text, a metrics file, ...).
template <class Fn>
void for_each_profile(const std::vector<ProfileFile> &files, Fn &&fn) {
    const ProfileFile *labels = nullptr;
    for (auto &f : files)
        if (f.name == "labels") labels = &f;
    for (auto &f : files) {
        if (!is_sample_file(f.name)) continue;
        if (!ends_with(f.name, ".jfr")) {
            // pprof messages on an arena: a heap-allocated parse spent most of its time in
            // malloc/free for the samples' repeated fields and labels.
            google::protobuf::Arena arena(arena_options());
            pp::Profile *p = google::protobuf::Arena::CreateMessage<pp::Profile>(&arena);
            try {
                std::string raw = trib::profiling::decompress(f.data);
                if (raw.size() > size_t(std::numeric_limits<int>::max()) ||
                    !p->ParseFromArray(raw.data(), int(raw.size())))
                    continue;
            } catch (const trib::profiling::DecodeError &) {
                continue;
            }
            fn(*p);
            continue;
        }
        std::vector<pp::Profile> profiles;
        try {
            profiles = decode_profile_file(f, labels);
        } catch (const trib::profiling::DecodeError &) {
            continue;
        }
        for (auto &p : profiles) fn(p);
    }
}

// The frames of every location, outermost first (pprof lists inlined callees first); a
// location without lines is its address.
std::unordered_map<uint64_t, std::vector<uint32_t>> location_frames(const pp::Profile &p) {
    std::unordered_map<uint64_t, std::vector<uint32_t>> frames;
    std::unordered_map<uint64_t, uint32_t> function_names;
    for (auto &f : p.function()) {
        const std::string &n = str(p, f.name());
        function_names[f.id()] = intern(n.empty() ? str(p, f.system_name()) : n);
    }
    for (auto &loc : p.location()) {
        std::vector<uint32_t> fr;
        for (int i = loc.line_size() - 1; i >= 0; --i) {
            auto it = function_names.find(loc.line(i).function_id());
            if (it != function_names.end()) fr.push_back(it->second);
        }
        if (fr.empty()) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(loc.address()));
            fr.push_back(intern(buf));
        }
        frames[loc.id()] = std::move(fr);
    }
    return frames;
}

void put_varint(std::string &out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(char(v | 0x80));
        v >>= 7;
    }
    out.push_back(char(v));
}
bool get_varint(std::string_view &in, uint64_t &v) {
    v = 0;
    for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
        uint8_t b = uint8_t(in.front());
        in.remove_prefix(1);
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

// (stack id, self) pairs sorted by id: id deltas and zigzag values as varints.
std::string encode_stack_values(const std::unordered_map<uint32_t, int64_t> &values) {
    std::vector<std::pair<uint32_t, int64_t>> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    std::string out;
    out.reserve(sorted.size() * 5);
    uint32_t prev = 0;
    for (auto &[id, v] : sorted) {
        if (v == 0) continue;
        put_varint(out, id - prev);
        put_varint(out, (uint64_t(v) << 1) ^ uint64_t(v >> 63));
        prev = id;
    }
    return out;
}
} // namespace

void add_stack_values(std::string_view in, std::vector<int64_t> &self_by_id) {
    uint64_t id = 0, delta = 0, zz = 0;
    while (!in.empty()) {
        if (!get_varint(in, delta) || !get_varint(in, zz)) return; // a torn blob: what was whole
        id += delta;
        if (id < self_by_id.size()) self_by_id[id] += int64_t(zz >> 1) ^ -int64_t(zz & 1);
    }
}

StackDictionary::StackDictionary() { clear(); }

void StackDictionary::clear() {
    parent_.assign(1, 0);
    name_.assign(1, intern("total"));
    children_ = ChildIndex();
    saved_ = 1;
}

uint32_t StackDictionary::child(uint32_t parent, uint32_t name_id) {
    bool inserted = false;
    uint32_t *slot = children_.find_or_insert((uint64_t(parent) << 32) | name_id, inserted);
    if (!inserted) return *slot;
    *slot = uint32_t(parent_.size());
    parent_.push_back(parent);
    name_.push_back(name_id);
    return *slot;
}

bool StackDictionary::load(uint32_t id, uint32_t parent, const std::string &name) {
    auto g = write_lock();
    if (id != parent_.size() || parent >= id) return false;
    uint32_t got = child(parent, intern(name));
    if (got != id) { // the same (parent, name) twice: not a dictionary this code wrote
        return false;
    }
    saved_ = uint32_t(parent_.size());
    return true;
}

std::vector<StackDictionary::NewNode> StackDictionary::take_unsaved() {
    auto g = write_lock();
    std::vector<NewNode> out;
    for (uint32_t id = saved_; id < parent_.size(); ++id)
        out.push_back(NewNode{id, parent_[id], pool().name(name_[id])});
    saved_ = uint32_t(parent_.size());
    return out;
}

void StackDictionary::give_back(uint32_t first_id) {
    auto g = write_lock();
    saved_ = std::min(saved_, first_id);
}

UploadSummary summarize_upload(const std::vector<ProfileFile> &files, StackDictionary &dict) {
    struct Acc {
        std::string unit;
        std::unordered_map<uint32_t, int64_t> self;
    };
    std::map<std::string, Acc> acc;
    for_each_profile(files, [&](const pp::Profile &p) {
        {
            // One column per distinct type name (the first with that name, as a query picks).
            struct Column {
                int index;
                int64_t scale;
                Acc *acc;
            };
            std::vector<Column> cols;
            for (int i = 0; i < p.sample_type_size(); ++i) {
                const std::string &name = str(p, p.sample_type(i).type());
                if (name.empty() || trib::profiling::find_sample_type(p, name) != i) continue;
                std::string unit(trib::profiling::sample_type_unit(p, i));
                Acc &a = acc[name];
                if (a.unit.empty()) a.unit = normalised_unit(unit);
                cols.push_back(Column{i, unit_scale(unit), &a});
            }
            if (cols.empty()) return;
            auto frames = location_frames(p);
            auto g = dict.write_lock();
            for (auto &s : p.sample()) {
                uint32_t node = 0;
                bool walked = false;
                for (auto &c : cols) {
                    if (c.index >= s.value_size() || s.value(c.index) == 0) continue;
                    if (!walked) {
                        for (int i = s.location_id_size() - 1; i >= 0; --i) {
                            auto it = frames.find(s.location_id(i));
                            if (it == frames.end()) continue;
                            for (uint32_t name : it->second) node = dict.child(node, name);
                        }
                        walked = true;
                    }
                    c.acc->self[node] += s.value(c.index) * c.scale;
                }
            }
        }
    });
    UploadSummary out;
    for (auto &[type, a] : acc) {
        out.types.push_back(type);
        out.by_type[type] = {a.unit, encode_stack_values(a.self)};
    }
    return out;
}

FlameTree::FlameTree(FlameFilter filter) : filter_(std::move(filter)) {
    Node root;
    root.name = intern("total");
    nodes_.push_back(std::move(root));
}

uint32_t *ChildIndex::find_or_insert(uint64_t key, bool &inserted) {
    if ((used_ + 1) * 4 > keys_.size() * 3) grow();
    size_t mask = keys_.size() - 1;
    size_t i = size_t((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
    while (keys_[i] != kEmpty) {
        if (keys_[i] == key) {
            inserted = false;
            return &values_[i];
        }
        i = (i + 1) & mask;
    }
    keys_[i] = key;
    ++used_;
    inserted = true;
    return &values_[i];
}

void ChildIndex::grow() {
    std::vector<uint64_t> old_keys(keys_.size() * 2, kEmpty);
    std::vector<uint32_t> old_values(values_.size() * 2);
    old_keys.swap(keys_);
    old_values.swap(values_);
    size_t mask = keys_.size() - 1;
    for (size_t j = 0; j < old_keys.size(); ++j) {
        if (old_keys[j] == kEmpty) continue;
        size_t i = size_t((old_keys[j] * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
        while (keys_[i] != kEmpty) i = (i + 1) & mask;
        keys_[i] = old_keys[j];
        values_[i] = old_values[j];
    }
}

uint32_t FlameTree::child(uint32_t parent, uint32_t name) {
    bool inserted = false;
    uint32_t *slot = child_ids_.find_or_insert((uint64_t(parent) << 32) | name, inserted);
    if (!inserted) return *slot;
    uint32_t id = uint32_t(nodes_.size());
    *slot = id;
    Node n;
    n.name = name;
    n.parent = parent;
    nodes_.push_back(std::move(n));
    nodes_[parent].children.push_back(id);
    return id;
}

bool FlameTree::add_upload(const std::vector<ProfileFile> &files, int slot) {
    bool any = false;
    for_each_profile(files, [&](const pp::Profile &p) { any = add_profile(p, slot) || any; });
    if (any) ++uploads_[slot];
    return any;
}

bool FlameTree::add_profile(const pp::Profile &p, int slot) {
    int vi = pick_sample_type(p, filter_.type);
    if (vi < 0) return false;
    std::string unit =
        trib::profiling::sample_type_unit(p, vi).data() ? std::string(trib::profiling::sample_type_unit(p, vi)) : "";
    int64_t scale = unit_scale(unit);
    if (unit_.empty()) unit_ = normalised_unit(unit);

    auto frames = location_frames(p);

    // Span and endpoint filters read the sample labels dd-trace and Pyroscope attach.
    int64_t k_span = -1, k_root = -1, k_span2 = -1, k_root2 = -1, k_endpoint = -1;
    bool filtering = !filter_.span_id.empty() || !filter_.endpoint.empty();
    if (filtering)
        for (int i = 0; i < p.string_table_size(); ++i) {
            const std::string &s = p.string_table(i);
            if (s == "span id") k_span = i;
            else if (s == "local root span id") k_root = i;
            else if (s == "span_id") k_span2 = i;
            else if (s == "local_root_span_id") k_root2 = i;
            else if (s == "trace endpoint") k_endpoint = i;
        }
    auto label_is = [&](const pp::Label &l, const std::string &want) {
        if (l.str() != 0) return str(p, l.str()) == want;
        return std::to_string(l.num()) == want;
    };

    for (auto &s : p.sample()) {
        if (vi >= s.value_size()) continue;
        int64_t v = s.value(vi) * scale;
        if (v == 0) continue;
        if (filtering) {
            bool span_ok = filter_.span_id.empty(), endpoint_ok = filter_.endpoint.empty();
            for (auto &l : s.label()) {
                if (!span_ok && (l.key() == k_span || l.key() == k_root || l.key() == k_span2 || l.key() == k_root2))
                    span_ok = label_is(l, filter_.span_id);
                if (!endpoint_ok && l.key() == k_endpoint) endpoint_ok = label_is(l, filter_.endpoint);
            }
            if (!span_ok || !endpoint_ok) continue;
        }
        uint32_t node = 0;
        nodes_[0].total[slot] += v;
        for (int i = s.location_id_size() - 1; i >= 0; --i) {
            auto it = frames.find(s.location_id(i));
            if (it == frames.end()) continue;
            for (uint32_t name : it->second) {
                node = child(node, name);
                nodes_[node].total[slot] += v;
            }
        }
        nodes_[node].self[slot] += v;
    }
    return true;
}

void FlameTree::merge_node(const FlameTree &other, uint32_t theirs, uint32_t mine, int from, int to) {
    for (int s = 0; s < 2; ++s) {
        if (from >= 0 && s != from) continue;
        int d = from >= 0 ? to : s;
        nodes_[mine].total[d] += other.nodes_[theirs].total[s];
        nodes_[mine].self[d] += other.nodes_[theirs].self[s];
    }
    for (uint32_t c : other.nodes_[theirs].children) merge_node(other, c, child(mine, other.nodes_[c].name), from, to);
}

void FlameTree::merge(const FlameTree &other, int from, int to) {
    merge_node(other, 0, 0, from, to);
    if (from >= 0) uploads_[to] += other.uploads_[from];
    else {
        uploads_[0] += other.uploads_[0];
        uploads_[1] += other.uploads_[1];
    }
    if (unit_.empty()) unit_ = other.unit_;
}

void FlameTree::add_stack_values(const StackDictionary &dict, const std::vector<int64_t> &self_by_id, int slot,
                                 int64_t uploads, const std::string &unit) {
    auto g = dict.read_lock();
    size_t n = std::min(self_by_id.size(), dict.size());
    // Children have larger ids than their parents: one backward pass sums the totals.
    std::vector<int64_t> total(self_by_id.begin(), self_by_id.begin() + std::ptrdiff_t(n));
    std::vector<char> used(n, 0);
    for (size_t id = n; id-- > 1;) {
        if (self_by_id[id] != 0) used[id] = 1;
        if (!used[id]) continue;
        total[dict.parent(uint32_t(id))] += total[id];
        used[dict.parent(uint32_t(id))] = 1;
    }
    constexpr uint32_t kNone = ~0u;
    std::vector<uint32_t> mine(n, kNone);
    if (n > 0) {
        mine[0] = 0;
        nodes_[0].total[slot] += total[0];
        nodes_[0].self[slot] += self_by_id[0];
    }
    for (size_t id = 1; id < n; ++id) {
        if (!used[id]) continue;
        uint32_t node = child(mine[dict.parent(uint32_t(id))], dict.name_id(uint32_t(id)));
        mine[id] = node;
        nodes_[node].total[slot] += total[id];
        nodes_[node].self[slot] += self_by_id[id];
    }
    uploads_[slot] += uploads;
    if (unit_.empty()) unit_ = unit;
}

nlohmann::json FlameTree::node_json(uint32_t idx, bool diff) const {
    const Node &n = nodes_[idx];
    nlohmann::json j;
    j["n"] = pool().name(n.name);
    j["v"] = n.total[0];
    j["s"] = n.self[0];
    if (diff) {
        j["b"] = n.total[1];
        j["bs"] = n.self[1];
    }
    if (!n.children.empty()) {
        std::vector<uint32_t> kids = n.children;
        std::sort(kids.begin(), kids.end(),
                  [&](uint32_t a, uint32_t b) { return pool().name(nodes_[a].name) < pool().name(nodes_[b].name); });
        auto &c = j["c"] = nlohmann::json::array();
        for (uint32_t k : kids) c.push_back(node_json(k, diff));
    }
    return j;
}

nlohmann::json FlameTree::to_json(bool diff) const { return node_json(0, diff); }

std::unordered_map<std::string, int64_t> FlameTree::folded(int slot) const {
    std::unordered_map<std::string, int64_t> out;
    for (uint32_t i = 1; i < nodes_.size(); ++i) {
        if (nodes_[i].self[slot] == 0) continue;
        std::vector<uint32_t> path;
        for (uint32_t n = i; n != 0; n = nodes_[n].parent) path.push_back(nodes_[n].name);
        std::string key;
        for (auto it = path.rbegin(); it != path.rend(); ++it) {
            if (!key.empty()) key.push_back(';');
            key += pool().name(*it);
        }
        out[key] += nodes_[i].self[slot];
    }
    return out;
}

} // namespace trib::viewer
