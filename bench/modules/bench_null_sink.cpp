// bench_null_sink: a sink module that takes every batch and keeps nothing. It reads each
// point's measurement and field count (so the batch view is really walked) and reports
// what it got through the host's self-metrics: tributary_module_points and
// tributary_module_batches on /metrics. Only for bench/run.sh; never in build/plugins.
#include <tributary/plugin.hpp>

#include <atomic>
#include <string>

namespace {

class BenchNullSink : public trib::Instance {
  public:
    // It reads no attachment bytes, so the host hands stored ones by reference (ABI 1.5):
    // the row measures the host's cost of one more sink, not reads from the store.
    static constexpr uint32_t kModuleFlags = TRIB_MODULE_READS_STORED_ATTACHMENTS;
    BenchNullSink(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string)
        : Instance(api, ctx, std::move(name)) {}

    void write(const trib_batch &batch) override {
        uint64_t fields = 0;
        for (size_t i = 0; i < batch.point_count; ++i) {
            const trib_point *p = TRIB_AT(trib_point, batch.points, i);
            fields += p->field_count + (p->measurement.len ? 1 : 0);
        }
        fields_seen_.fetch_add(fields, std::memory_order_relaxed);
        host().counter_add("points", double(batch.point_count));
        host().counter_add("batches", 1);
    }

  private:
    std::atomic<uint64_t> fields_seen_{0};
};

const char kSample[] = "[[sinks]]\n  name = \"null\"\n  type = \"bench_null_sink\"\n";

} // namespace

TRIB_DEFINE_MODULE(BenchNullSink, "bench_null_sink", "0.1.0", TRIB_KIND_SINK,
                   "benchmark sink: counts points and drops them", kSample)
