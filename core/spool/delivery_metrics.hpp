// Counters of every spool and its delivery loop, rendered into /metrics:
//   tributary_spool_*{owner="sink|input",name="..."} and tributary_delivery_*{...}
// Spools register on creation and unregister (RAII) before they are destroyed.
#pragma once

#include "spool/spool.hpp"
#include "spool/spool_delivery.hpp"

#include <cstdint>
#include <string>

namespace trib::core {

class DeliveryMetricsRegistration {
  public:
    DeliveryMetricsRegistration() = default;
    // owner: "sink" or "input"; name: the sink name or the input instance id.
    DeliveryMetricsRegistration(std::string owner, std::string name, const Spool *spool, const SpoolDelivery *delivery);
    ~DeliveryMetricsRegistration();
    DeliveryMetricsRegistration(DeliveryMetricsRegistration &&o) noexcept : id_(o.id_) { o.id_ = 0; }
    DeliveryMetricsRegistration &operator=(DeliveryMetricsRegistration &&o) noexcept;
    DeliveryMetricsRegistration(const DeliveryMetricsRegistration &) = delete;
    DeliveryMetricsRegistration &operator=(const DeliveryMetricsRegistration &) = delete;

  private:
    uint64_t id_ = 0;
};

// Prometheus text (HELP/TYPE + samples) for every registered spool; empty when none.
std::string render_delivery_metrics();

} // namespace trib::core
