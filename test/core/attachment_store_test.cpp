// The host's attachment store on its own: bytes written once and handed on by reference,
// read back byte for byte, retention by size (oldest first, never the upload in hand) and
// by age, what a restart finds, and the spool codec's form of a reference.
#include <catch2/catch.hpp>
#include <trib_test/support.hpp>

#include "spool/point_codec.hpp"
#include "store/attachment_store.hpp"

#include <filesystem>
#include <set>
#include <sys/stat.h>
#include <utime.h>

using namespace trib::test;
using trib::core::AttachmentStore;
using trib::core::AttachmentStoreConfig;

namespace {

trib::Point upload(const std::string &id, size_t bytes, char fill = 'x') {
    trib::Point p("profile", "profiling", 1700000000000000000LL);
    p.field(trib::Field::String("profile_id", id));
    p.attach("cpu.pprof", "application/octet-stream", std::string(bytes, fill));
    p.attach("event.json", "application/json", "{\"id\":\"" + id + "\"}");
    return p;
}

uint64_t dir_bytes(const std::string &dir) {
    uint64_t n = 0;
    for (auto &f : list_files(dir)) n += std::filesystem::file_size(dir + "/" + f);
    return n;
}

} // namespace

TEST_CASE("attachment store: bytes go to <root>/<profile_id>/<name>, the point keeps a reference", "[core][store]") {
    TempDir d;
    AttachmentStore store(AttachmentStoreConfig{d.sub("attachments")});
    store.start();
    std::vector<trib::Point> pts{upload("abc", 1000, 'a')};
    std::string want = *pts[0].attachments[0].data;
    std::string err;
    REQUIRE(store.store(pts, false, err));
    auto &a = pts[0].attachments[0];
    CHECK_FALSE(a.data);
    CHECK(a.stored_path == d.sub("attachments/abc/cpu.pprof"));
    CHECK(a.size() == 1000);
    CHECK(read_file(d.sub("attachments/abc/cpu.pprof")) == want);
    auto back = trib::core::attachment_bytes(a, err);
    REQUIRE(back);
    CHECK(*back == want);
    CHECK(store.stats().bytes == 1000 + pts[0].attachments[1].size());
    CHECK(store.stats().profiles == 1);

    // Gone (retention): a clear error, not bytes.
    std::filesystem::remove(a.stored_path);
    err.clear();
    CHECK_FALSE(trib::core::attachment_bytes(a, err));
    CHECK(err.find("not in the store") != std::string::npos);
}

TEST_CASE("attachment store: over max_size the oldest profiles go first, never the one in hand", "[core][store]") {
    TempDir d;
    AttachmentStoreConfig c{d.sub("attachments")};
    c.max_size_bytes = 50 * 1000;
    AttachmentStore store(c);
    store.start();
    std::string err;
    for (int i = 0; i < 30; ++i) {
        std::vector<trib::Point> pts{upload("p" + std::to_string(100 + i), 9000)};
        REQUIRE(store.store(pts, false, err));
        // Never more than the bound plus the upload just stored.
        CHECK(dir_bytes(d.sub("attachments")) <= c.max_size_bytes + 9000 + 64);
        CHECK(store.stats().bytes == dir_bytes(d.sub("attachments")));
    }
    // What is left is the newest run of uploads, without gaps.
    std::set<std::string> left;
    for (auto &e : std::filesystem::directory_iterator(d.sub("attachments"))) left.insert(e.path().filename());
    REQUIRE_FALSE(left.empty());
    int first = 130 - int(left.size());
    for (int i = first; i < 130; ++i) CHECK(left.count("p" + std::to_string(i)));
    CHECK(store.stats().removed_for_size == 30 - left.size());

    // One upload alone larger than the bound stays (it is the one in hand).
    std::vector<trib::Point> big{upload("big", 80 * 1000)};
    REQUIRE(store.store(big, false, err));
    CHECK(file_exists(d.sub("attachments/big/cpu.pprof")));
}

TEST_CASE("attachment store: max_age removes old profiles; a restart counts what is there", "[core][store]") {
    TempDir d;
    std::string root = d.sub("attachments");
    // An earlier run's profiles: one old (mtime two hours back), one new, one cut-short temp file.
    write_file(root + "/old/cpu.pprof", std::string(500, 'o'));
    write_file(root + "/new/cpu.pprof", std::string(300, 'n'));
    write_file(root + "/new/cpu.pprof.tmp123-4", "partial");
    struct utimbuf two_hours_ago {
        time(nullptr) - 7200, time(nullptr) - 7200
    };
    REQUIRE(::utime((root + "/old/cpu.pprof").c_str(), &two_hours_ago) == 0);
    AttachmentStoreConfig c{root};
    c.max_age = std::chrono::hours(1);
    AttachmentStore store(c);
    store.start();
    CHECK_FALSE(file_exists(root + "/old/cpu.pprof"));
    CHECK(file_exists(root + "/new/cpu.pprof"));
    CHECK_FALSE(file_exists(root + "/new/cpu.pprof.tmp123-4"));
    CHECK(store.stats().bytes == 300);
    CHECK(store.stats().profiles == 1);
    CHECK(store.stats().removed_for_age == 1);
}

TEST_CASE("attachment store: discard removes what a refused emit stored", "[core][store]") {
    TempDir d;
    AttachmentStore store(AttachmentStoreConfig{d.sub("attachments")});
    store.start();
    std::vector<trib::Point> kept{upload("kept", 100)};
    std::string err;
    REQUIRE(store.store(kept, false, err));
    std::vector<trib::Point> refused{upload("refused", 100), upload("kept", 120)};
    std::vector<std::string> created;
    REQUIRE(store.store(refused, true, err, &created));
    CHECK(created == std::vector<std::string>{"refused"});
    store.discard(created);
    CHECK_FALSE(file_exists(d.sub("attachments/refused/cpu.pprof")));
    CHECK(file_exists(d.sub("attachments/kept/cpu.pprof"))); // named by an earlier point: stays
    CHECK(store.stats().profiles == 1);
    CHECK(store.stats().bytes == dir_bytes(d.sub("attachments")));
}

TEST_CASE("point codec: store references round-trip as version 2; byte batches stay version 1", "[core][store]") {
    std::vector<trib::Point> bytes_only{upload("a", 10)};
    std::string v1 = trib::core::encode_points(bytes_only);
    CHECK(uint8_t(v1[3]) == 1);
    std::vector<trib::Point> refs{upload("a", 10)};
    refs[0].attachments[0].data.reset();
    refs[0].attachments[0].stored_path = "/data/attachments/a/cpu.pprof";
    refs[0].attachments[0].stored_size = 10;
    std::string v2 = trib::core::encode_points(refs);
    CHECK(uint8_t(v2[3]) == 2);
    auto back = trib::core::decode_points(v2);
    REQUIRE(back.size() == 1);
    REQUIRE(back[0].attachments.size() == 2);
    CHECK_FALSE(back[0].attachments[0].data);
    CHECK(back[0].attachments[0].stored_path == "/data/attachments/a/cpu.pprof");
    CHECK(back[0].attachments[0].size() == 10);
    REQUIRE(back[0].attachments[1].data);
    CHECK(*back[0].attachments[1].data == "{\"id\":\"a\"}");
    auto old = trib::core::decode_points(v1);
    CHECK(*old[0].attachments[0].data == std::string(10, 'x'));
    // A kind byte that is neither bytes nor reference is refused, not guessed.
    std::string bad = v2;
    size_t at = bad.find("cpu.pprof") + 9 + 4 + std::string("application/octet-stream").size();
    REQUIRE(uint8_t(bad[at]) == 1);
    bad[at] = 7;
    CHECK_THROWS_AS(trib::core::decode_points(bad), trib::core::PointCodecError);
}

TEST_CASE("attachment store: the books stay right with discards between uploads and after a restart", "[core][store]") {
    TempDir d;
    std::string root = d.sub("attachments");
    std::string err;
    {
        AttachmentStoreConfig c{root};
        c.max_size_bytes = 50 * 1000;
        AttachmentStore store(c);
        store.start();
        for (int i = 0; i < 5; ++i) {
            std::vector<trib::Point> pts{upload("p" + std::to_string(i), 9000)};
            REQUIRE(store.store(pts, false, err));
        }
        store.discard({"p1", "p2"}); // refused emits between kept ones
        CHECK(store.stats().profiles == 3);
        for (int i = 5; i < 10; ++i) {
            std::vector<trib::Point> pts{upload("p" + std::to_string(i), 9000)};
            REQUIRE(store.store(pts, false, err));
            CHECK(store.stats().bytes == dir_bytes(root));
        }
        std::set<std::string> left;
        for (auto &e : std::filesystem::directory_iterator(root)) left.insert(e.path().filename());
        CHECK(left == std::set<std::string>{"p5", "p6", "p7", "p8", "p9"});
        CHECK(store.stats().profiles == 5);
        CHECK(store.stats().removed_for_size == 3); // p0, p3, p4
    }
    // A restart orders what it finds by age (file times), not by name.
    for (auto [dir, age_s] :
         {std::pair<const char *, int>{"p5", 100}, {"p6", 500}, {"p7", 300}, {"p8", 400}, {"p9", 200}}) {
        struct utimbuf t {
            time(nullptr) - age_s, time(nullptr) - age_s
        };
        for (auto &f : list_files(root + "/" + dir)) REQUIRE(::utime((root + "/" + dir + "/" + f).c_str(), &t) == 0);
    }
    AttachmentStoreConfig c{root};
    c.max_size_bytes = 30 * 1000;
    AttachmentStore store(c);
    store.start();
    std::vector<trib::Point> pts{upload("p10", 9000)};
    REQUIRE(store.store(pts, false, err));
    std::set<std::string> left;
    for (auto &e : std::filesystem::directory_iterator(root)) left.insert(e.path().filename());
    CHECK(left == std::set<std::string>{"p5", "p9", "p10"}); // p6, p8, p7 were the oldest
    CHECK(store.stats().bytes == dir_bytes(root));
    CHECK(store.stats().profiles == 3);
}
