#include "spooled_sink.hpp"

#include "spool/point_codec.hpp"

namespace trib::core {

SpooledSink::SpooledSink(std::unique_ptr<Sink> inner, SpoolSetup setup, Log log) : inner_(std::move(inner)) {
    setup.spool.log = log;
    spool_ = std::make_unique<Spool>(setup.spool);
    Sink *target = inner_.get();
    delivery_ = std::make_unique<SpoolDelivery>(
        "sink " + inner_->name(), *spool_,
        [target](const std::vector<trib::Point> &batch, std::string &err) { return target->write(batch, err); },
        setup.retry, 1 /* a sink's write() is called from one thread */, log);
    delivery_->join_records(setup.join_max_records, setup.join_max_bytes);
    metrics_ = DeliveryMetricsRegistration("sink", inner_->name(), spool_.get(), delivery_.get());
    delivery_->start();
}

SpooledSink::~SpooledSink() {
    delivery_->stop();
    try {
        inner_->flush();
    } catch (...) {}
    metrics_ = DeliveryMetricsRegistration();
}

trib_status SpooledSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    if (batch.empty()) return TRIB_OK;
    std::string payload;
    try {
        payload = encode_points(batch);
    } catch (const PointCodecError &e) {
        err = e.what();
        return TRIB_PERMANENT;
    }
    trib_status st = spool_->append(payload, &err);
    if (st == TRIB_INVALID_ARGUMENT && batch.size() > 1) {
        // Too big for one record: halves go in separately (in order).
        size_t half = batch.size() / 2;
        std::vector<trib::Point> a(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(half));
        std::vector<trib::Point> b(batch.begin() + static_cast<std::ptrdiff_t>(half), batch.end());
        st = write(a, err);
        if (st != TRIB_OK) return st;
        return write(b, err);
    }
    if (st == TRIB_INVALID_ARGUMENT) return TRIB_PERMANENT;
    return st;
}

void SpooledSink::flush() { spool_->sync(); }

} // namespace trib::core
