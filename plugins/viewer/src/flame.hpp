// Merging pprof and JFR profiles into one flame tree (and two, for a diff).
#pragma once

#include <pprof.pb.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trib::viewer {

// A profile file as stored: its attachment name and bytes (compressed or not).
struct ProfileFile {
    std::string name;
    std::string data;
};

// (parent, name) → child: open addressing with linear probing; merging hundreds of trees
// is mostly these lookups, which std::unordered_map made several times slower.
class ChildIndex {
  public:
    ChildIndex() : keys_(1024, kEmpty), values_(1024) {}
    uint32_t *find_or_insert(uint64_t key, bool &inserted);

  private:
    static constexpr uint64_t kEmpty = ~0ULL;
    void grow();
    std::vector<uint64_t> keys_;
    std::vector<uint32_t> values_;
    size_t used_ = 0;
};

// Every call path (stack prefix) seen in any upload, with a stable id: 0 is the root, a
// node's parent always has a smaller id. An upload's summary names its stacks by these ids,
// so a flame graph of many uploads adds numbers into one array instead of walking each
// upload's tree. The index persists the nodes (take_unsaved) beside the summaries.
class StackDictionary {
  public:
    StackDictionary();
    std::unique_lock<std::shared_mutex> write_lock() { return std::unique_lock<std::shared_mutex>(mu_); }
    std::shared_lock<std::shared_mutex> read_lock() const { return std::shared_lock<std::shared_mutex>(mu_); }

    // The rest need the caller to hold a lock (child: the write lock).
    uint32_t child(uint32_t parent, uint32_t name_id);
    size_t size() const { return parent_.size(); }
    uint32_t parent(uint32_t id) const { return parent_[id]; }
    uint32_t name_id(uint32_t id) const { return name_[id]; }

    // Appends a node read back from the index; false (nothing added) unless id == size()
    // and parent < id. Takes the write lock.
    bool load(uint32_t id, uint32_t parent, const std::string &name);
    struct NewNode {
        uint32_t id, parent;
        std::string name;
    };
    // Nodes added since the last call (to be written in the same transaction as the
    // summaries that use them); give_back() when that transaction failed.
    std::vector<NewNode> take_unsaved();
    void give_back(uint32_t first_id);
    // Forgets every node but the root (the index dropped its copy).
    void clear();

  private:
    mutable std::shared_mutex mu_;
    std::vector<uint32_t> parent_, name_;
    ChildIndex children_;
    uint32_t saved_ = 1;
};

// One upload decoded once: for each sample type present, the normalised unit and the
// self value of each stack (ids in `dict`), encoded compactly (see encode_stack_values).
struct UploadSummary {
    std::vector<std::string> types;                                     // sorted
    std::map<std::string, std::pair<std::string, std::string>> by_type; // type → (unit, encoded)
};
UploadSummary summarize_upload(const std::vector<ProfileFile> &files, StackDictionary &dict);

// Adds an encoded summary's values into self_by_id (indexed by stack id; ids past its size
// are ignored — the caller sizes it to the dictionary).
void add_stack_values(std::string_view encoded, std::vector<int64_t> &self_by_id);

// The sample type names a query's `type` may mean, in order: the name itself, then the
// well-known aliases (lock → delay/contentions, alloc → alloc_space, heap → inuse_space/space).
const std::vector<std::string> &type_candidates(const std::string &type);

// Whether a stored attachment can hold samples (not event.json, labels, prev_* delta bases).
bool is_sample_file(std::string_view name);

// Decodes a pprof (any codec) or a JFR recording (→ cpu, alloc and lock profiles). A JFR
// upload's `labels` file, when given, attaches Pyroscope's span labels to the samples.
// Throws trib::profiling::DecodeError.
std::vector<perftools::profiles::Profile> decode_profile_file(const ProfileFile &file,
                                                              const ProfileFile *labels = nullptr);

// The index of the sample type a query's `type` names in p: the exact name, else a
// well-known alias (lock → delay/contentions, alloc → alloc_space, heap → inuse_space/space).
int pick_sample_type(const perftools::profiles::Profile &p, const std::string &type);

struct FlameFilter {
    std::string type;
    std::string span_id;  // samples labelled with this span id or local root span id
    std::string endpoint; // samples labelled with this trace endpoint
};

// Slot 0 is the current window; slot 1 the baseline of a diff.
class FlameTree {
  public:
    explicit FlameTree(FlameFilter filter);

    // Adds the samples of every profile decoded from one upload's files. Returns false when
    // none of them has the filter's type.
    bool add_upload(const std::vector<ProfileFile> &files, int slot);
    // Adds one decoded profile; false when it lacks the type.
    bool add_profile(const perftools::profiles::Profile &p, int slot);
    // Adds another tree's counts of its slot `from` into this tree's slot `to` (trees built
    // in parallel, or one upload's cached tree).
    void merge(const FlameTree &other, int from = -1, int to = -1);
    // Adds summed summaries (self value per stack id of dict) into `slot`, as `uploads`
    // uploads with `unit`.
    void add_stack_values(const StackDictionary &dict, const std::vector<int64_t> &self_by_id, int slot,
                          int64_t uploads, const std::string &unit);

    int64_t total(int slot) const { return nodes_[0].total[slot]; }
    int64_t uploads(int slot) const { return uploads_[slot]; }
    const std::string &unit() const { return unit_; }
    const FlameFilter &filter() const { return filter_; }
    size_t node_count() const { return nodes_.size(); }

    // {"n": name, "v": total, "s": self, "c": [children by name]}; with diff also "b"/"bs"
    // (baseline total/self).
    nlohmann::json to_json(bool diff) const;
    // Every root-to-node path ("a;b;c") with its self value in `slot` (non-zero only):
    // the folded form, as tests compare it with go tool pprof.
    std::unordered_map<std::string, int64_t> folded(int slot) const;

  private:
    struct Node {
        uint32_t name = 0;
        uint32_t parent = 0;
        int64_t total[2] = {0, 0};
        int64_t self[2] = {0, 0};
        std::vector<uint32_t> children;
    };
    uint32_t child(uint32_t parent, uint32_t name);
    nlohmann::json node_json(uint32_t idx, bool diff) const;
    void merge_node(const FlameTree &other, uint32_t theirs, uint32_t mine, int from, int to);

    FlameFilter filter_;
    // Names are ids in one process-wide pool, so trees merge without hashing strings.
    std::vector<Node> nodes_;
    ChildIndex child_ids_;
    std::string unit_;
    int64_t uploads_[2] = {0, 0};
};

} // namespace trib::viewer
