#include "stats.hpp"

#include <algorithm>
#include <cmath>

namespace trib::pinpoint {
namespace {

// Agents send CPU load as a ratio (0..1; Java's -1 = not measured); DataKit documents the
// fields as int percent, so 0.8087 is stored as 81 and an unmeasured load is left out.
void add_cpu_percent(trib::Point &p, const char *key, double ratio) {
    if (!std::isfinite(ratio) || ratio < 0) return;
    p.field(trib::Field::Int(key, std::llround(std::min(ratio, 1e6) * 100)));
}

trib::Point stat_point(const v1::PAgentStat &s, const CallHeaders &h, const MetadataStore &meta) {
    // Clamped so the ns conversion cannot overflow on a bogus timestamp.
    const int64_t ms = std::clamp<int64_t>(s.timestamp(), 0, 4000000000000);
    trib::Point p("pp-agentStats", "metric", ms * 1000000);
    if (s.has_cpuload() || s.has_gc()) p.tag("agent_id", h.agent_id.empty() ? "unknown" : h.agent_id);
    if (auto info = meta.agent_info(h.agent_id)) {
        if (!info->hostname.empty()) p.tag("hostname", info->hostname);
        if (!info->ip.empty()) p.tag("ip", info->ip);
        if (!info->ports.empty()) p.tag("ports", info->ports);
        if (info->pid != 0) p.tag("pid", std::to_string(info->pid));
        if (!info->agent_version.empty()) p.tag("agentVersion", info->agent_version);
        p.tag("container", info->container ? "true" : "false");
    }
    if (s.has_cpuload()) {
        add_cpu_percent(p, "SystemCpuLoad", s.cpuload().systemcpuload());
        add_cpu_percent(p, "JvmCpuLoad", s.cpuload().jvmcpuload());
    }
    if (s.has_gc()) {
        const auto &gc = s.gc();
        p.field(trib::Field::Int("JvmMemoryHeapUsed", gc.jvmmemoryheapused()));
        p.field(trib::Field::Int("JvmMemoryHeapMax", gc.jvmmemoryheapmax()));
        p.field(trib::Field::Int("JvmMemoryNonHeapUsed", gc.jvmmemorynonheapused()));
        p.field(trib::Field::Int("JvmMemoryNonHeapMax", gc.jvmmemorynonheapmax()));
        p.field(trib::Field::Int("JvmGcOldCount", gc.jvmgcoldcount()));
        p.field(trib::Field::Int("JvmGcOldTime", gc.jvmgcoldtime()));
        if (gc.has_jvmgcdetailed()) {
            const auto &d = gc.jvmgcdetailed();
            p.field(trib::Field::Int("GcNewCount", d.jvmgcnewcount()));
            p.field(trib::Field::Int("GcNewTime", d.jvmgcnewtime()));
            p.field(trib::Field::Float("PoolCodeCacheUsed", d.jvmpoolcodecacheused()));
            p.field(trib::Field::Float("PoolNewGenUsed", d.jvmpoolnewgenused()));
            p.field(trib::Field::Float("PoolOldGenUsed", d.jvmpoololdgenused()));
            p.field(trib::Field::Float("PoolSurvivorSpaceUsed", d.jvmpoolsurvivorspaceused()));
            p.field(trib::Field::Float("PoolPermGenUsed", d.jvmpoolpermgenused()));
            p.field(trib::Field::Float("PoolMetaspaceUsed", d.jvmpoolmetaspaceused()));
        }
    }
    return p;
}

} // namespace

std::vector<trib::Point> stat_points(const v1::PStatMessage &msg, const CallHeaders &h, const MetadataStore &meta) {
    std::vector<trib::Point> out;
    auto add = [&](const v1::PAgentStat &s) {
        trib::Point p = stat_point(s, h, meta);
        if (!p.fields.empty()) out.push_back(std::move(p)); // a point needs at least one field
    };
    if (msg.has_agentstat()) add(msg.agentstat());
    if (msg.has_agentstatbatch())
        for (auto &s : msg.agentstatbatch().agentstat()) add(s);
    return out;
}

} // namespace trib::pinpoint
