// The host's own bounds: config nesting, bounded JSON, the in-flight memory budget.
#include <catch2/catch.hpp>
#include <bus/memory_budget.hpp>
#include <config/toml_json.hpp>

#include <cpptoml.h>

using trib::core::check_toml_depth;
using trib::core::MemoryBudget;
using trib::core::MemoryReservation;

TEST_CASE("config depth: arrays, inline tables, table names and dotted keys are counted", "[core][limits]") {
    auto nested = [](size_t n, char open, char close) { return std::string(n, open) + std::string(n, close); };
    CHECK_NOTHROW(check_toml_depth("x = " + nested(64, '[', ']') + "\n", "f.conf"));
    CHECK_THROWS_WITH(check_toml_depth("a = 1\nx = " + nested(65, '[', ']') + "\n", "f.conf"),
                      Catch::Contains("f.conf: line 2: nested deeper than 64"));
    std::string tables = "t = ";
    for (int i = 0; i < 65; ++i) tables += "{a=";
    tables += "1" + std::string(65, '}');
    CHECK_THROWS_WITH(check_toml_depth(tables, "f.conf"), Catch::Contains("nested deeper"));
    std::string header = "[a";
    for (int i = 0; i < 70; ++i) header += ".a";
    CHECK_THROWS(check_toml_depth(header + "]\n", "f.conf"));
    CHECK_THROWS(check_toml_depth(header.substr(1) + " = 1\n", "f.conf"));
}

TEST_CASE("config depth: brackets in strings and comments do not nest", "[core][limits]") {
    std::string many(200, '[');
    CHECK_NOTHROW(check_toml_depth("s = \"" + many + "\"\n", "f"));
    CHECK_NOTHROW(check_toml_depth("s = '" + many + "'\n", "f"));
    CHECK_NOTHROW(check_toml_depth("s = \"\"\"\n" + many + "\n\"\"\"\n", "f"));
    CHECK_NOTHROW(check_toml_depth("s = '''\n" + many + "\n'''\n", "f"));
    CHECK_NOTHROW(check_toml_depth("s = \"a\\\"" + many + "\"\n", "f"));
    CHECK_NOTHROW(check_toml_depth("# " + many + "\nx = [[1], [2]]\n", "f"));
    // A line number after a multi-line string is still right.
    CHECK_THROWS_WITH(check_toml_depth("s = \"\"\"\n\n\"\"\"\nx = " + std::string(65, '[') + "\n", "f"),
                      Catch::Contains("line 4"));
    // Still a real TOML document.
    CHECK(trib::core::parse_toml_text("[inputs.x]\n  a = [[1, 2], [3]]\n  url = \"http://a.b/[x]\"\n", "f"));
}

TEST_CASE("bounded JSON: 64 levels parse, 65 and 100,000 are refused without recursion", "[core][limits]") {
    CHECK(trib::core::parse_json_bounded(std::string(64, '[') + std::string(64, ']')).is_array());
    CHECK_THROWS_AS(trib::core::parse_json_bounded(std::string(65, '[') + std::string(65, ']')), std::invalid_argument);
    CHECK_THROWS_AS(trib::core::parse_json_bounded(std::string(100000, '[') + std::string(100000, ']')),
                    std::invalid_argument);
    CHECK_THROWS(trib::core::parse_json_bounded("{\"a\":"));
}

TEST_CASE("memory budget: reserve, spent, too large, release", "[core][limits]") {
    MemoryBudget b(100);
    CHECK(b.reserve(60) == TRIB_OK);
    CHECK(b.reserve(50) == TRIB_BACKPRESSURE);
    CHECK(b.reserve(101) == TRIB_INVALID_ARGUMENT);
    CHECK(b.used() == 60);
    b.release(60);
    CHECK(b.used() == 0);
    CHECK(b.peak() == 60);
    CHECK(b.refused_busy() == 1);
    CHECK(b.refused_too_large() == 1);
    b.release(10); // more than was taken: clamps at zero
    CHECK(b.used() == 0);
    {
        MemoryReservation r(&b);
        CHECK(r.grow(40) == TRIB_OK);
        CHECK(r.grow(40) == TRIB_OK);
        CHECK(b.used() == 80);
        // Growing past the whole budget is final (413), not a retry.
        CHECK(r.grow(30) == TRIB_INVALID_ARGUMENT);
        CHECK(r.bytes() == 80);
    }
    CHECK(b.used() == 0);
}
