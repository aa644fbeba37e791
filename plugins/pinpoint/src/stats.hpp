// Agent statistics -> `pp-agentStats` metric points (shared/spec/pinpoint.md §8), from
// both the single `agentStat` form (what Node agents send) and `agentStatBatch`.
#pragma once

#include <vector>

#include <tributary/plugin.hpp>

#include "assembler.hpp"
#include "metadata.hpp"
#include "v1/Stat.pb.h"

namespace trib::pinpoint {

std::vector<trib::Point> stat_points(const v1::PStatMessage &msg, const CallHeaders &headers,
                                     const MetadataStore &meta);

} // namespace trib::pinpoint
