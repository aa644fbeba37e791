#include "module_sink.hpp"

namespace trib::core {

trib_status ModuleSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    if (!instance_.handle()) {
        err = "sink module instance is not running";
        return TRIB_RETRY;
    }
    trib::BatchView view(batch);
    char buf[1024] = {0};
    trib_status st = instance_.module().desc->write(instance_.handle(), view.get(), buf, sizeof buf);
    if (st != TRIB_OK) err = buf[0] ? buf : "write failed";
    return st;
}

} // namespace trib::core
