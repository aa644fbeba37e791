#include <catch2/catch.hpp>
#include <tributary/json_text.hpp>

#include <nlohmann/json.hpp>

#include <random>
#include <string>

namespace {
std::string as_json(std::string_view s) {
    std::string out;
    trib::append_json_string(out, s);
    return out;
}
} // namespace

TEST_CASE("append_json_string: valid UTF-8 reads back unchanged", "[sdk][json_text]") {
    for (std::string s :
         {std::string(""), std::string("service"), std::string("a\"b\\c"), std::string("tab\there\nnl\r"),
          std::string("\x01\x1f\x7f", 3), std::string("nul\0in", 6), std::string("héllo wörld"),
          std::string("日本語 \xf0\x9f\x94\xa5 emoji"), std::string("\xed\x9f\xbf"), std::string("\xf4\x8f\xbf\xbf")}) {
        std::string text = as_json(s);
        auto j = nlohmann::json::parse(text);
        CHECK(j.get<std::string>() == s);
        // The same text nlohmann writes (it escapes the same set; DEL stays as it is).
        CHECK(text == nlohmann::json(s).dump());
    }
}

TEST_CASE("append_json_string: bytes that are not UTF-8 become U+FFFD and the JSON stays valid", "[sdk][json_text]") {
    const std::string fffd = "\xef\xbf\xbd";
    CHECK(nlohmann::json::parse(as_json("a\xff"
                                        "b"))
              .get<std::string>() == "a" + fffd + "b");
    CHECK(nlohmann::json::parse(as_json("\xc3")).get<std::string>() == fffd);                       // truncated
    CHECK(nlohmann::json::parse(as_json("\xc0\xaf")).get<std::string>() == fffd + fffd);            // overlong
    CHECK(nlohmann::json::parse(as_json("\xed\xa0\x80")).get<std::string>() == fffd + fffd + fffd); // surrogate
    CHECK(nlohmann::json::parse(as_json("\xf4\x90\x80\x80")).get<std::string>() == fffd + fffd + fffd + fffd);
    // Any bytes at all: the text always parses (nlohmann's own dump() throws on these).
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string s(size_t(rng() % 40), '\0');
        for (auto &c : s) c = char(rng());
        std::string text = as_json(s);
        auto j = nlohmann::json::parse(text, nullptr, false);
        REQUIRE(j.is_string());
    }
}
