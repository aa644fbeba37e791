#include "metadata.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace trib::pinpoint {
namespace {

using nlohmann::json;

json api_json(const ApiInfo &a) { return json{{"i", a.info}, {"l", a.line}, {"t", a.type}, {"o", a.location}}; }
ApiInfo api_from(const json &j) {
    return ApiInfo{j.value("i", ""), j.value("l", 0), j.value("t", 0), j.value("o", "")};
}
json info_json(const AgentInfo &a) {
    return json{{"h", a.hostname}, {"ip", a.ip},           {"ports", a.ports}, {"v", a.agent_version},
                {"pid", a.pid},    {"st", a.service_type}, {"c", a.container}};
}
AgentInfo info_from(const json &j) {
    AgentInfo a;
    a.hostname = j.value("h", "");
    a.ip = j.value("ip", "");
    a.ports = j.value("ports", "");
    a.agent_version = j.value("v", "");
    a.pid = j.value("pid", 0);
    a.service_type = j.value("st", 0);
    a.container = j.value("c", false);
    return a;
}

// Records are CBOR so binary SQL uids round-trip.
std::string encode(const json &j) {
    std::vector<uint8_t> v = json::to_cbor(j);
    return std::string(v.begin(), v.end());
}
json binary_of(const std::string &s) { return json::binary(std::vector<uint8_t>(s.begin(), s.end())); }

} // namespace

void MetadataStore::open(const std::string &dir) {
    close();
    if (dir.empty()) return;
    std::filesystem::create_directories(dir);
    path_ = dir + "/metadata.log";
    uint64_t records = 0;
    record_file::ReadResult r = record_file::read_records(path_, 0, record_file::Checksum::crc32_of_payload,
                                                          [&](std::string_view payload, uint64_t) {
                                                              ++records;
                                                              apply(std::string(payload));
                                                          });
    if (r.corrupt_tail) record_file::truncate_file(path_, r.valid_bytes);
    // Agents resend their metadata on every start; rewrite when most records are stale.
    if (records > 2 * entries_ + 1024) rewrite_compacted();
    std::lock_guard<std::mutex> g(file_mu_);
    writer_.open(path_);
}

void MetadataStore::close() {
    std::lock_guard<std::mutex> g(file_mu_);
    writer_.close();
}

void MetadataStore::rewrite_compacted() {
    std::string tmp = path_ + ".tmp";
    record_file::RecordWriter w(record_file::Checksum::crc32_of_payload);
    w.open(tmp, true);
    {
        std::shared_lock<std::shared_mutex> g(mu_);
        for (auto &[agent, a] : agents_) {
            for (auto &[id, v] : a.apis)
                w.append(encode(json{{"a", agent}, {"k", "api"}, {"id", id}, {"v", api_json(v)}}));
            for (auto &[id, v] : a.sqls) w.append(encode(json{{"a", agent}, {"k", "sql"}, {"id", id}, {"v", v}}));
            for (auto &[id, v] : a.sql_uids)
                w.append(encode(json{{"a", agent}, {"k", "sqluid"}, {"id", binary_of(id)}, {"v", v}}));
            for (auto &[id, v] : a.strings) w.append(encode(json{{"a", agent}, {"k", "str"}, {"id", id}, {"v", v}}));
            for (auto &[id, v] : a.exceptions) w.append(encode(json{{"a", agent}, {"k", "exc"}, {"id", id}, {"v", v}}));
            if (a.info) w.append(encode(json{{"a", agent}, {"k", "info"}, {"v", info_json(*a.info)}}));
        }
    }
    w.sync();
    w.close();
    std::filesystem::rename(tmp, path_);
}

bool MetadataStore::apply(const std::string &payload) {
    json j = json::from_cbor(payload, true, false);
    if (!j.is_object() || !j.contains("a") || !j.contains("k")) return false;
    std::string agent = j.value("a", ""), kind = j.value("k", "");
    try {
        if (kind == "api")
            return put_entry(&Agent::apis, nullptr, agent, j.at("id").get<int32_t>(), api_from(j.at("v")));
        if (kind == "sql")
            return put_entry(&Agent::sqls, nullptr, agent, j.at("id").get<int32_t>(), j.at("v").get<std::string>());
        if (kind == "sqluid") {
            auto raw = j.at("id").get_binary();
            return put_entry(&Agent::sql_uids, nullptr, agent, std::string(raw.begin(), raw.end()),
                             j.at("v").get<std::string>());
        }
        if (kind == "str")
            return put_entry(&Agent::strings, nullptr, agent, j.at("id").get<int32_t>(), j.at("v").get<std::string>());
        if (kind == "exc")
            return put_entry(&Agent::exceptions, nullptr, agent, j.at("id").get<std::string>(),
                             j.at("v").get<std::string>());
        if (kind == "info") {
            std::unique_lock<std::shared_mutex> g(mu_);
            agents_[agent].info = info_from(j.at("v"));
            return true;
        }
    } catch (const json::exception &) {
        // A record written by a newer layout or damaged inside valid framing: skip it.
    }
    return false;
}

void MetadataStore::persist(const std::string &payload) {
    std::lock_guard<std::mutex> g(file_mu_);
    if (writer_.is_open()) writer_.append(payload);
}

template <class Map, class K, class V>
bool MetadataStore::put_entry(Map Agent::*table, const char *kind, const std::string &agent, const K &key, V value) {
    {
        std::unique_lock<std::shared_mutex> g(mu_);
        Agent &a = agents_[agent];
        auto &m = a.*table;
        auto it = m.find(key);
        if (it != m.end()) {
            if (it->second == value) return true; // unchanged: nothing to log
            it->second = value;
        } else {
            if (entries_ >= max_entries_) return false;
            m.emplace(key, value);
            ++entries_;
        }
    }
    if (!kind) return true; // replaying the log
    json rec{{"a", agent}, {"k", kind}};
    if constexpr (std::is_same_v<K, std::string>) {
        if (std::string(kind) == "sqluid") rec["id"] = binary_of(key);
        else rec["id"] = key;
    } else {
        rec["id"] = key;
    }
    if constexpr (std::is_same_v<V, ApiInfo>) rec["v"] = api_json(value);
    else rec["v"] = value;
    persist(encode(rec));
    return true;
}

} // namespace trib::pinpoint

namespace trib::pinpoint {

bool MetadataStore::put_api(const std::string &agent, int32_t id, ApiInfo info) {
    return put_entry(&Agent::apis, "api", agent, id, std::move(info));
}
bool MetadataStore::put_sql(const std::string &agent, int32_t id, std::string sql) {
    return put_entry(&Agent::sqls, "sql", agent, id, std::move(sql));
}
bool MetadataStore::put_sql_uid(const std::string &agent, const std::string &uid, std::string sql) {
    return put_entry(&Agent::sql_uids, "sqluid", agent, uid, std::move(sql));
}
bool MetadataStore::put_string(const std::string &agent, int32_t id, std::string value) {
    return put_entry(&Agent::strings, "str", agent, id, std::move(value));
}
bool MetadataStore::put_exception(const std::string &agent, const std::string &span_key, std::string text) {
    return put_entry(&Agent::exceptions, "exc", agent, span_key, std::move(text));
}
void MetadataStore::put_agent_info(const std::string &agent, AgentInfo info) {
    {
        std::unique_lock<std::shared_mutex> g(mu_);
        auto &slot = agents_[agent].info;
        if (slot && *slot == info) return;
        slot = info;
    }
    persist(encode(json{{"a", agent}, {"k", "info"}, {"v", info_json(info)}}));
}

namespace {
template <class Map, class K>
auto find_in(const Map &m, const K &k) -> std::optional<typename Map::mapped_type> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
}
} // namespace

std::optional<ApiInfo> MetadataStore::api(const std::string &agent, int32_t id) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto a = agents_.find(agent);
    return a == agents_.end() ? std::nullopt : find_in(a->second.apis, id);
}
std::optional<std::string> MetadataStore::sql(const std::string &agent, int32_t id) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto a = agents_.find(agent);
    return a == agents_.end() ? std::nullopt : find_in(a->second.sqls, id);
}
std::optional<std::string> MetadataStore::sql_uid(const std::string &agent, const std::string &uid) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto a = agents_.find(agent);
    return a == agents_.end() ? std::nullopt : find_in(a->second.sql_uids, uid);
}
std::optional<std::string> MetadataStore::string_value(const std::string &agent, int32_t id) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto a = agents_.find(agent);
    return a == agents_.end() ? std::nullopt : find_in(a->second.strings, id);
}
std::optional<std::string> MetadataStore::exception(const std::string &agent, const std::string &key) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto a = agents_.find(agent);
    return a == agents_.end() ? std::nullopt : find_in(a->second.exceptions, key);
}
std::optional<AgentInfo> MetadataStore::agent_info(const std::string &agent) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    auto a = agents_.find(agent);
    return a == agents_.end() ? std::nullopt : a->second.info;
}
uint64_t MetadataStore::entries() const {
    std::shared_lock<std::shared_mutex> g(mu_);
    return entries_;
}

} // namespace trib::pinpoint
