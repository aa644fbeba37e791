// Per-agent metadata (API, SQL, SQL uid, string, exception tables and the last agent info)
// kept in memory and in an append-only log in the instance's data dir, reloaded at start.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "tributary/record_file.hpp"

namespace trib::pinpoint {

struct ApiInfo {
    std::string info;
    int32_t line = 0;
    int32_t type = 0;
    std::string location;
    bool operator==(const ApiInfo &o) const {
        return info == o.info && line == o.line && type == o.type && location == o.location;
    }
};

struct AgentInfo {
    std::string hostname, ip, ports, agent_version;
    int32_t pid = 0;
    int32_t service_type = 0;
    bool container = false;
    bool operator==(const AgentInfo &o) const {
        return hostname == o.hostname && ip == o.ip && ports == o.ports && agent_version == o.agent_version &&
               pid == o.pid && service_type == o.service_type && container == o.container;
    }
};

class MetadataStore {
  public:
    explicit MetadataStore(uint64_t max_entries = 2000000) : max_entries_(max_entries) {}

    // Loads `<dir>/metadata.log` (if any), compacts it when it holds many stale records,
    // and appends to it from then on. Empty dir = memory only. Throws on I/O errors.
    void open(const std::string &dir);
    void close();

    // Each returns false when the entry was refused because the store is full.
    bool put_api(const std::string &agent, int32_t id, ApiInfo info);
    bool put_sql(const std::string &agent, int32_t id, std::string sql);
    bool put_sql_uid(const std::string &agent, const std::string &uid, std::string sql);
    bool put_string(const std::string &agent, int32_t id, std::string value);
    // Exceptions of one span, keyed "<trace_id>/<span_id>", summarised as text.
    bool put_exception(const std::string &agent, const std::string &span_key, std::string text);
    void put_agent_info(const std::string &agent, AgentInfo info);

    std::optional<ApiInfo> api(const std::string &agent, int32_t id) const;
    std::optional<std::string> sql(const std::string &agent, int32_t id) const;
    std::optional<std::string> sql_uid(const std::string &agent, const std::string &uid) const;
    std::optional<std::string> string_value(const std::string &agent, int32_t id) const;
    std::optional<std::string> exception(const std::string &agent, const std::string &span_key) const;
    std::optional<AgentInfo> agent_info(const std::string &agent) const;

    uint64_t entries() const;

  private:
    struct Agent {
        std::unordered_map<int32_t, ApiInfo> apis;
        std::unordered_map<int32_t, std::string> sqls;
        std::unordered_map<std::string, std::string> sql_uids;
        std::unordered_map<int32_t, std::string> strings;
        std::unordered_map<std::string, std::string> exceptions;
        std::optional<AgentInfo> info;
    };
    // Applies one logged record; returns true when it changed the tables.
    bool apply(const std::string &payload);
    void persist(const std::string &payload);
    void rewrite_compacted();
    template <class Map, class K, class V>
    bool put_entry(Map Agent::*table, const char *kind, const std::string &agent, const K &key, V value);

    uint64_t max_entries_;
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, Agent> agents_;
    uint64_t entries_ = 0;
    std::mutex file_mu_;
    std::string path_;
    record_file::RecordWriter writer_{record_file::Checksum::crc32_of_payload};
};

} // namespace trib::pinpoint
