// trib_bench_make_upload: builds the "100 KB-class" profile upload the ingest benchmarks
// send next to the recorded one.
//
// It starts from the wall profile dd-trace (Node) recorded in the fixtures and grows it
// deterministically — more functions, locations and sampled stacks of the same shape —
// until its gzip form reaches --target-bytes. Then it writes:
//   <out>/wall-large.pprof         the grown profile, uncompressed
//   <out>/wall-large.pprof.gz      the same, gzip'd (what dd-trace and Pyroscope send)
//   <out>/ddtrace-large.multipart  the recorded dd-trace upload with wall.pprof replaced
//   <out>/ddtrace-large.boundary   its multipart boundary
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using perftools::profiles::Profile;

namespace {

std::string read_file(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path &p, const std::string &data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out.write(data.data(), std::streamsize(data.size()))) throw std::runtime_error("cannot write " + p.string());
}

int64_t intern(Profile &p, const std::string &s) {
    p.add_string_table(s);
    return p.string_table_size() - 1;
}

// Adds synthetic JavaScript-like functions, one location each; returns the new location ids.
std::vector<uint64_t> add_functions(Profile &p, std::mt19937_64 &rng, int count) {
    static const char *verbs[] = {"handle",    "parse",     "render",   "resolve", "fetch",
                                  "encode",    "decode",    "validate", "compute", "dispatch",
                                  "serialize", "transform", "emit",     "flush",   "lookup"};
    static const char *nouns[] = {"Request", "Response", "Template", "Route",  "Session", "Buffer", "Token", "Header",
                                  "Payload", "Cache",    "Query",    "Record", "Stream",  "Event",  "Schema"};
    uint64_t next_fn = 1, next_loc = 1;
    for (auto &f : p.function()) next_fn = std::max<uint64_t>(next_fn, f.id() + 1);
    for (auto &l : p.location()) next_loc = std::max<uint64_t>(next_loc, l.id() + 1);
    std::vector<uint64_t> locs;
    for (int i = 0; i < count; ++i) {
        std::string name = std::string(verbs[rng() % 15]) + nouns[rng() % 15] + "_" + std::to_string(rng() % 100000);
        std::string file = "/app/node_modules/pkg" + std::to_string(rng() % 60) + "/lib/" + nouns[rng() % 15] +
                           std::to_string(rng() % 40) + ".js";
        auto *fn = p.add_function();
        fn->set_id(next_fn++);
        fn->set_name(intern(p, name));
        fn->set_system_name(fn->name());
        fn->set_filename(intern(p, file));
        fn->set_start_line(int64_t(rng() % 2000));
        auto *loc = p.add_location();
        loc->set_id(next_loc++);
        auto *line = loc->add_line();
        line->set_function_id(fn->id());
        line->set_line(fn->start_line() + int64_t(rng() % 50));
        locs.push_back(loc->id());
    }
    return locs;
}

// Adds `count` samples whose stacks walk a fixed random call tree (so stacks share
// prefixes, as real ones do), with values shaped like the recorded wall profile
// (sample/count, wall/nanoseconds, cpu/nanoseconds) and the labels of a recorded sample.
void add_samples(Profile &p, std::mt19937_64 &rng, const std::vector<uint64_t> &locs, int count,
                 const std::vector<perftools::profiles::Sample> &label_donors) {
    const int nvalues = p.sample_type_size();
    const int64_t period = p.period() > 0 ? p.period() : 10'000'000;
    for (int i = 0; i < count; ++i) {
        auto *s = p.add_sample();
        int depth = 8 + int(rng() % 32);
        // Leaf first (pprof order). Walk from a root chosen among few to share prefixes.
        std::vector<uint64_t> stack;
        size_t node = rng() % 16;
        for (int d = 0; d < depth; ++d) {
            stack.push_back(locs[node % locs.size()]);
            node = node * 31 + 1 + rng() % 6;
        }
        for (auto it = stack.rbegin(); it != stack.rend(); ++it) s->add_location_id(*it);
        int64_t n = 1 + int64_t(rng() % 3);
        for (int v = 0; v < nvalues; ++v) {
            if (v == 0) s->add_value(n);
            else if (v == 1) s->add_value(n * period);
            else s->add_value(int64_t(rng() % uint64_t(n * period)));
        }
        if (!label_donors.empty()) {
            const auto &donor = label_donors[rng() % label_donors.size()];
            for (auto &l : donor.label()) *s->add_label() = l;
        }
    }
}

} // namespace

int main(int argc, char **argv) {
    fs::path fixtures, out;
    size_t target = 100 * 1024;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--fixtures" && i + 1 < argc) fixtures = argv[++i];
        else if (a == "--out" && i + 1 < argc) out = argv[++i];
        else if (a == "--target-bytes" && i + 1 < argc) target = size_t(std::atoll(argv[++i]));
        else {
            std::fprintf(stderr, "usage: trib_bench_make_upload --fixtures DIR --out DIR [--target-bytes N]\n");
            return 2;
        }
    }
    if (fixtures.empty() || out.empty()) {
        std::fprintf(stderr, "usage: trib_bench_make_upload --fixtures DIR --out DIR [--target-bytes N]\n");
        return 2;
    }
    try {
        const fs::path dd = fixtures / "ddtrace-nodejs";
        Profile p = trib::profiling::parse_pprof(read_file(dd / "part-wall.pprof.gz"));
        std::vector<perftools::profiles::Sample> donors(p.sample().begin(), p.sample().end());
        std::mt19937_64 rng(20261122);
        auto locs = add_functions(p, rng, 1500);
        std::string raw, gz;
        // Grow in steps until the gzip form reaches the target size.
        for (int round = 0; round < 1000; ++round) {
            add_samples(p, rng, locs, 200, donors);
            raw = p.SerializeAsString();
            gz = trib::compression::gzip(raw);
            if (gz.size() >= target) break;
        }
        fs::create_directories(out);
        write_file(out / "wall-large.pprof", raw);
        write_file(out / "wall-large.pprof.gz", gz);

        // The recorded upload with its wall.pprof part replaced, everything else as sent.
        std::string body = read_file(dd / "profiling-input.body.multipart");
        const std::string boundary = "1a8de2bbf9e4d199"; // the recorded request's boundary
        auto parts = trib::profiling::parse_multipart(body, boundary);
        trib::profiling::MultipartWriter w(boundary);
        for (auto &part : parts) {
            std::string_view data = part.data;
            if (part.name == "wall.pprof") data = gz;
            w.add_file(part.name, part.filename, part.content_type, data);
        }
        std::string large = w.finish();
        write_file(out / "ddtrace-large.multipart", large);
        write_file(out / "ddtrace-large.boundary", boundary);
        std::printf("{\"wall_pprof_bytes\":%zu,\"wall_gzip_bytes\":%zu,\"samples\":%d,\"multipart_bytes\":%zu}\n",
                    raw.size(), gz.size(), p.sample_size(), large.size());
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "trib_bench_make_upload: %s\n", e.what());
        return 1;
    }
}
