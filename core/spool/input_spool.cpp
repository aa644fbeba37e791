#include "input_spool.hpp"

#include "spool/point_codec.hpp"

namespace trib::core {

InputSpool::InputSpool(std::string instance_id, SpoolSetup setup, ToBus to_bus, Log log) {
    setup.spool.log = log;
    spool_ = std::make_unique<Spool>(setup.spool);
    delivery_ = std::make_unique<SpoolDelivery>(
        "input " + instance_id, *spool_,
        SpoolDelivery::DeliverAsync([to_bus = std::move(to_bus)](const std::vector<trib::Point> &batch,
                                                                 std::string &err, std::function<void()> done) {
            std::vector<trib::Point> copy = batch;
            trib_status st = to_bus(std::move(copy), err, std::move(done));
            // The bus refuses only when full (retry) or when a batch can never fit.
            if (st == TRIB_INVALID_ARGUMENT) return TRIB_PERMANENT;
            return st;
        }),
        setup.retry, setup.workers, log);
    metrics_ = DeliveryMetricsRegistration("input", instance_id, spool_.get(), delivery_.get());
}

InputSpool::~InputSpool() {
    stop();
    metrics_ = DeliveryMetricsRegistration();
}

void InputSpool::start() { delivery_->start(); }
void InputSpool::stop() { delivery_->stop(); }

trib_status InputSpool::accept(const std::vector<trib::Point> &points, std::string &err) {
    if (points.empty()) return TRIB_OK;
    std::string payload;
    try {
        payload = encode_points(points);
    } catch (const PointCodecError &e) {
        err = e.what();
        return TRIB_INVALID_ARGUMENT;
    }
    return spool_->append(payload, &err);
}

} // namespace trib::core
