/* An input written in plain C against ABI 1.0 (TRIB_ABI_TARGET_MINOR=0): its descriptor
 * lacks on_leadership/health and it only uses the 1.0 host table. Every `interval_ms`
 * (default 100) it emits one `abi_old_minor` metric point whose fields record the struct
 * sizes it was built with and the ones the host handed it, so a test can see that an
 * older-minor module really ran inside a newer host. */
/* clock_gettime under a strict -std=c11 */
#define _POSIX_C_SOURCE 200809L

#include <tributary/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if TRIB_ABI_TARGET_MINOR != 0
#error "abi_old_minor must be compiled with TRIB_ABI_TARGET_MINOR=0"
#endif

typedef struct old_minor_instance {
    const trib_host_api_t *host;
    trib_host_ctx *ctx;
    char name[128];
    uint64_t interval_ms;
    uint64_t timer_id;
    int64_t ticks;
} old_minor_instance;

static trib_str str_of(const char *s) {
    trib_str v;
    v.ptr = s;
    v.len = strlen(s);
    return v;
}

static void put_error(char *err, size_t cap, const char *msg) {
    if (err && cap) {
        snprintf(err, cap, "%s", msg);
    }
}

/* Reads "interval_ms": <digits> from the config JSON; this module has no JSON library,
 * and that one key is all it needs. Returns 0 when the key is absent. */
static int read_interval(trib_str cfg, uint64_t *out) {
    char buf[4096];
    size_t n = cfg.len < sizeof buf - 1 ? cfg.len : sizeof buf - 1;
    memcpy(buf, cfg.ptr, n);
    buf[n] = '\0';
    const char *k = strstr(buf, "\"interval_ms\"");
    if (!k) return 0;
    k = strchr(k + 13, ':');
    if (!k) return -1;
    ++k;
    while (*k == ' ' || *k == '\t' || *k == '\n' || *k == '\r') ++k;
    char *end = NULL;
    unsigned long long v = strtoull(k, &end, 10);
    if (end == k || v == 0) return -1;
    *out = (uint64_t)v;
    return 1;
}

static void on_tick(void *user) {
    old_minor_instance *self = (old_minor_instance *)user;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    self->ticks++;

    trib_tag tags[2];
    tags[0].struct_size = sizeof(trib_tag);
    tags[0].key = str_of("instance");
    tags[0].value = str_of(self->name);
    tags[1].struct_size = sizeof(trib_tag);
    tags[1].key = str_of("built_abi");
    tags[1].value = str_of("1.0");

    trib_field fields[4];
    memset(fields, 0, sizeof fields);
    fields[0].struct_size = sizeof(trib_field);
    fields[0].type = TRIB_FIELD_INT;
    fields[0].key = str_of("tick");
    fields[0].value.i = self->ticks;
    fields[1].struct_size = sizeof(trib_field);
    fields[1].type = TRIB_FIELD_UINT;
    fields[1].key = str_of("module_struct_size");
    fields[1].value.u = sizeof(trib_module_t);
    fields[2].struct_size = sizeof(trib_field);
    fields[2].type = TRIB_FIELD_UINT;
    fields[2].key = str_of("host_api_struct_size");
    fields[2].value.u = self->host->struct_size;
    fields[3].struct_size = sizeof(trib_field);
    fields[3].type = TRIB_FIELD_UINT;
    fields[3].key = str_of("host_abi_minor");
    fields[3].value.u = self->host->abi_minor;

    trib_point p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof(trib_point);
    p.measurement = str_of("abi_old_minor");
    p.category = str_of("metric");
    p.time_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    p.tags = tags;
    p.tag_count = 2;
    p.fields = fields;
    p.field_count = 4;

    trib_batch b;
    b.struct_size = sizeof(trib_batch);
    b.points = &p;
    b.point_count = 1;
    if (self->host->emit(self->ctx, &b) != TRIB_OK)
        self->host->log(self->ctx, TRIB_LOG_WARN, str_of("abi_old_minor: tick not accepted"));
}

static trib_status om_create(const trib_host_api_t *host, trib_host_ctx *ctx, trib_str instance_name,
                             trib_str config_json, void **instance, char *err, size_t err_cap) {
    uint64_t interval = 100;
    if (read_interval(config_json, &interval) < 0) {
        put_error(err, err_cap, "key 'interval_ms': expected a positive integer");
        return TRIB_INVALID_ARGUMENT;
    }
    old_minor_instance *self = (old_minor_instance *)calloc(1, sizeof *self);
    if (!self) {
        put_error(err, err_cap, "out of memory");
        return TRIB_FATAL;
    }
    self->host = host;
    self->ctx = ctx;
    self->interval_ms = interval;
    size_t n = instance_name.len < sizeof self->name - 1 ? instance_name.len : sizeof self->name - 1;
    memcpy(self->name, instance_name.ptr, n);
    self->name[n] = '\0';
    *instance = self;
    return TRIB_OK;
}

static trib_status om_start(void *instance, char *err, size_t err_cap) {
    old_minor_instance *self = (old_minor_instance *)instance;
    self->timer_id = self->host->timer_start(self->ctx, self->interval_ms, on_tick, self);
    if (self->timer_id == 0) {
        put_error(err, err_cap, "host refused the timer");
        return TRIB_FATAL;
    }
    self->host->log(self->ctx, TRIB_LOG_INFO, str_of("abi_old_minor started (built against ABI 1.0)"));
    return TRIB_OK;
}

static void om_stop(void *instance) {
    old_minor_instance *self = (old_minor_instance *)instance;
    if (self->timer_id) self->host->timer_stop(self->ctx, self->timer_id);
    self->timer_id = 0;
}

static void om_destroy(void *instance) { free(instance); }

static const char om_sample[] = "[[inputs.abi_old_minor]]\n"
                                "  ## Test module built against ABI 1.0. Emits one point per interval.\n"
                                "  interval_ms = 100\n";

static const trib_module_t om_descriptor = {
    sizeof(trib_module_t),
    TRIB_ABI_MAJOR,
    TRIB_ABI_MINOR,
    "abi_old_minor",
    "1.0.0",
    TRIB_KIND_INPUT,
    "ABI test: an input built against minor 0",
    om_sample,
    om_create,
    om_start,
    om_stop,
    om_destroy,
    NULL,
};

TRIB_DECLARE_ABI_PROBE()

TRIB_EXPORT const trib_module_t *trib_module_entry(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_minor;
    return host_abi_major == TRIB_ABI_MAJOR ? &om_descriptor : NULL;
}
