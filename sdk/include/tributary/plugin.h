/*
 * Tributary module ABI — the only contract between the host and its modules.
 *
 * Pure C (stdint/stddef/stdbool). Rules that hold for every declaration below:
 *
 *  VERSIONING  TRIB_ABI_MAJOR must match exactly; TRIB_ABI_MINOR only grows.
 *              Every struct that crosses the boundary starts with `uint32_t struct_size`
 *              (the writer's sizeof). A reader treats fields past struct_size as absent
 *              (NULL / 0). Tables are append-only: a field, once published, never moves.
 *              Arrays of structs are walked with the stride of their first element's
 *              struct_size (TRIB_AT below), so old and new element layouts both read.
 *  OWNERSHIP   Every string and byte range is a borrowed view ({ptr,len}) valid only until
 *              the call that passed it returns. Whoever must keep data copies it. Neither
 *              side frees memory the other allocated. Errors go into a caller-supplied
 *              buffer (char *err, size_t err_cap), always NUL-terminated when err_cap > 0.
 *  THREADS     Lifecycle hooks (create/start/stop/destroy/on_leadership) run on the host's
 *              single control thread. emit, log, is_leader, global_tags and counter_add are
 *              thread-safe and may be called from any thread. HTTP handlers run on host
 *              worker threads (several at once); timer callbacks on the host timer thread.
 *  EXCEPTIONS  No C++ exception or longjmp crosses the boundary (plugin.hpp catches them).
 *
 * Building against an older minor: define TRIB_ABI_TARGET_MINOR to that minor before
 * including this header; fields added later are then left out of the structs, exactly as
 * a module compiled with the older header would see them.
 */
#ifndef TRIBUTARY_PLUGIN_H
#define TRIBUTARY_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TRIB_ABI_MAJOR
#define TRIB_ABI_MAJOR 1
#endif
#define TRIB_ABI_MINOR_CURRENT 5
#ifndef TRIB_ABI_TARGET_MINOR
#define TRIB_ABI_TARGET_MINOR TRIB_ABI_MINOR_CURRENT
#endif
#define TRIB_ABI_MINOR TRIB_ABI_TARGET_MINOR
/* Minor history:
 *   1.0  base ABI
 *   1.1  trib_module_t.on_leadership, trib_module_t.health;
 *        trib_host_api_t.counter_add, trib_host_api_t.data_dir
 *   1.2  trib_host_api_t.memory_reserve, trib_host_api_t.memory_release
 *   1.3  trib_http_route.flags (TRIB_ROUTE_PATH_PREFIX)
 *   1.4  trib_module_t.config_table
 *   1.5  trib_attachment.stored_path, trib_attachment.size; trib_module_t.flags
 *        (TRIB_MODULE_READS_STORED_ATTACHMENTS; later TRIB_MODULE_BATCHED_WRITES) */

#if defined(_WIN32)
#define TRIB_EXPORT __declspec(dllexport)
#else
#define TRIB_EXPORT __attribute__((visibility("default")))
#endif

/* Element i of an array whose elements carry struct_size first. */
#define TRIB_AT(type, base, i) ((const type *)((const char *)(base) + (size_t)(i) * (size_t)((base)[0].struct_size)))
/* True when a struct written with `s->struct_size` contains `field`. */
#define TRIB_HAS_FIELD(type, s, field)                                                                                 \
    ((s) != NULL && (s)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---------------------------------------------------------------- views and status */

/* Borrowed UTF-8 (not NUL-terminated) string. OWNERSHIP: the passer's, for the call. */
typedef struct trib_str {
    const char *ptr;
    size_t len;
} trib_str;

/* Borrowed bytes. OWNERSHIP: the passer's, for the call. */
typedef struct trib_bytes {
    const uint8_t *ptr;
    size_t len;
} trib_bytes;

typedef enum trib_status {
    TRIB_OK = 0,
    TRIB_RETRY = 1,            /* transient failure: try the same thing again later */
    TRIB_BACKPRESSURE = 2,     /* full: the caller keeps its data and slows down (HTTP 429) */
    TRIB_INVALID_ARGUMENT = 3, /* the data or config is wrong: do not retry */
    TRIB_UNSUPPORTED = 4,      /* the callee cannot do this */
    TRIB_PERMANENT = 5,        /* failed for good: do not retry this item */
    TRIB_FATAL = 6             /* the instance is broken and should be stopped */
} trib_status;

typedef enum trib_log_level {
    TRIB_LOG_DEBUG = 0,
    TRIB_LOG_INFO = 1,
    TRIB_LOG_WARN = 2,
    TRIB_LOG_ERROR = 3
} trib_log_level;

/* ---------------------------------------------------------------- points */

typedef struct trib_tag {
    uint32_t struct_size;
    trib_str key;
    trib_str value;
} trib_tag;

typedef enum trib_field_type {
    TRIB_FIELD_INT = 0,
    TRIB_FIELD_UINT = 1,
    TRIB_FIELD_FLOAT = 2,
    TRIB_FIELD_BOOL = 3,
    TRIB_FIELD_STRING = 4,
    TRIB_FIELD_BYTES = 5
} trib_field_type;

typedef struct trib_field {
    uint32_t struct_size;
    uint32_t type; /* trib_field_type */
    trib_str key;
    union {
        int64_t i;
        uint64_t u;
        double f;
        bool b;
        trib_str s;
        trib_bytes bytes;
    } value;
} trib_field;

/* A named binary file carried by a point (a pprof or JFR as uploaded, an event.json).
 *
 * ATTACHMENTS: the convention modules and sinks share. The host reads no attachment and
 * knows no profile schema; it carries attachments with their point, byte for byte.
 *  - One point with attachments is one upload (in DataKit's terms, one profile): its
 *    files travel together and a sink keeps them together. The file sink stores them
 *    under <data-dir>/attachments/<profile_id>/<name>; the dataway sink sends the point
 *    of category "profiling" as one multipart POST to /v1/upload/profiling.
 *  - `profile_id` names the group: a string field (or, failing that, a tag) unique per
 *    upload, e.g. a random UUID. Without one the file sink uses "no_profile_id-<time_ns>".
 *  - Names are file names, distinct within the point ("cpu.pprof", "main.jfr"), as the
 *    client named them. "event.json" is reserved for the event.
 *  - "event.json" is DataKit's event, a JSON object: format, profiler, attachments (the
 *    other names), language, tags_profiler ("k:v,..." of every tag of the upload), start,
 *    end (RFC3339Nano or null); a client's own event keeps its extra keys. The module
 *    writes it in its final form before emit: sinks forward it unchanged and never
 *    rebuild it, so a key the module wants in tags_profiler (its config tags, the global
 *    tags it reads through global_tags(), which DataKit merges there too) it writes
 *    itself. Tags the host adds after emit, or a sink's relabel rules, change the point's
 *    tags only. The dataway sink refuses a profiling point with attachments but no
 *    event.json (PERMANENT), since the upload needs it. */
typedef struct trib_attachment {
    uint32_t struct_size;
    trib_str name;         /* original part/file name, e.g. "wall.pprof" */
    trib_str content_type; /* may be empty */
    trib_bytes data;       /* exactly the bytes received (see stored_path) */
#if TRIB_ABI_TARGET_MINOR >= 5
    /* Set by the host on what it hands to sinks: the absolute path of the file in the host's
     * attachment store (<data-dir>/attachments/<profile_id>/<name>) once the bytes are
     * there, else empty. `data` is empty only for a sink module that declared
     * TRIB_MODULE_READS_STORED_ATTACHMENTS and only when stored_path is set; every other
     * sink gets the bytes in `data`. Inputs leave both fields zero. */
    trib_str stored_path;
    uint64_t size; /* length of the attachment's bytes, whether in `data` or in the store */
#endif
} trib_attachment;

/* DataKit's point: measurement, category ("metric", "tracing", "profiling", "logging",
 * ...), time in ns since the epoch, tags, fields, optional attachments. */
typedef struct trib_point {
    uint32_t struct_size;
    trib_str measurement;
    trib_str category;
    int64_t time_ns;
    const trib_tag *tags;
    size_t tag_count;
    const trib_field *fields;
    size_t field_count;
    const trib_attachment *attachments;
    size_t attachment_count;
} trib_point;

typedef struct trib_batch {
    uint32_t struct_size;
    const trib_point *points;
    size_t point_count;
} trib_batch;

/* ---------------------------------------------------------------- HTTP */

typedef struct trib_header {
    uint32_t struct_size;
    trib_str name;
    trib_str value;
} trib_header;

/* A request on the shared listener. OWNERSHIP: host's, valid until the handler returns.
 * The body is complete (chunked transfer already joined) and within the route's limit;
 * Content-Encoding is NOT undone (the module decides). */
typedef struct trib_http_request {
    uint32_t struct_size;
    trib_str method;
    trib_str path;  /* without the query string */
    trib_str query; /* raw query string, without '?', not decoded */
    trib_str content_type;
    const trib_header *headers;
    size_t header_count;
    trib_bytes body;
    trib_str remote_addr;
} trib_http_request;

/* The response the handler fills. OWNERSHIP: host's. `respond` copies everything it is
 * given before returning; call it once (a later call replaces the earlier answer). A
 * handler that never calls it gets 500. */
typedef struct trib_http_response trib_http_response;
struct trib_http_response {
    uint32_t struct_size;
    void (*respond)(trib_http_response *self, uint32_t status, trib_str content_type, const trib_header *headers,
                    size_t header_count, trib_bytes body);
    void *host_private;
};

/* Runs on a host worker thread; several may run at once. */
typedef void (*trib_http_handler_fn)(void *user, const trib_http_request *request, trib_http_response *response);

typedef struct trib_http_route {
    uint32_t struct_size;
    trib_str method;         /* "POST", "GET", ...; empty = any */
    trib_str path;           /* exact path match (see flags) */
    uint64_t max_body_bytes; /* 0 = host default; larger bodies get 413 before the handler */
    trib_http_handler_fn handler;
    void *user; /* OWNERSHIP: module's; must outlive the instance's stop() */
#if TRIB_ABI_TARGET_MINOR >= 3
    uint32_t flags; /* TRIB_ROUTE_* bits; absent (older modules) = 0 */
#endif
} trib_http_route;

/* 1.3: `path` is a prefix ending in '/' (e.g. "/api/v1/traces/"): the route answers every
 * path that starts with it; the handler reads the rest from trib_http_request.path. An
 * exact route for a path wins over any prefix; among prefixes the longest wins. */
#define TRIB_ROUTE_PATH_PREFIX 1u

/* ---------------------------------------------------------------- host table */

/* Opaque per-instance handle the host passes to create(); pass it back in every call. */
typedef struct trib_host_ctx trib_host_ctx;

typedef void (*trib_tag_visit_fn)(void *user, trib_str key, trib_str value);
typedef void (*trib_timer_fn)(void *user);

typedef struct trib_host_api {
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;

    /* Any thread. */
    void (*log)(trib_host_ctx *ctx, trib_log_level level, trib_str message);

    /* Any thread. The host copies the batch before returning (the caller keeps
     * ownership). The host adds the global tags and the instance's `tags` to every point
     * that does not already have those keys. OK: accepted (in memory under the ceiling,
     * or in the spool). BACKPRESSURE: nothing of the batch was taken; tell the client to
     * retry (HTTP 429 / gRPC RESOURCE_EXHAUSTED). INVALID_ARGUMENT: malformed batch. */
    trib_status (*emit)(trib_host_ctx *ctx, const trib_batch *batch);

    /* Any thread. Visits the global host tags (ENV_GLOBAL_HOST_TAGS, config, `host`);
     * views valid during the visit only. */
    void (*global_tags)(trib_host_ctx *ctx, trib_tag_visit_fn visit, void *user);

    /* Any thread. Whether this host currently leads (backend none: always true). */
    bool (*is_leader)(trib_host_ctx *ctx);

    /* Control thread (create/start). Registers a route on the shared listener; the host
     * removes the instance's routes before stop(). Fails (INVALID_ARGUMENT, message in
     * err) when the method+path is taken. */
    trib_status (*http_route_add)(trib_host_ctx *ctx, const trib_http_route *route, char *err, size_t err_cap);

    /* Control thread. Calls fn(user) every period_ms on the host timer thread (first call
     * after one period). Returns a non-zero id. The host stops the instance's timers
     * before stop(). */
    uint64_t (*timer_start)(trib_host_ctx *ctx, uint64_t period_ms, trib_timer_fn fn, void *user);
    /* Control thread or the timer's own callback. Returns once fn is not running. */
    void (*timer_stop)(trib_host_ctx *ctx, uint64_t timer_id);

#if TRIB_ABI_TARGET_MINOR >= 1
    /* Any thread. Adds delta to the instance's self-metric counter `name` (created on
     * first use), exported on /metrics as tributary_module_<name>{module,instance}. */
    void (*counter_add)(trib_host_ctx *ctx, trib_str name, double delta);

    /* Any thread. A directory private to this instance that survives restarts
     * (<data-dir>/state/<module>/<instance>); created by the host. View valid for the
     * instance's lifetime. */
    trib_str (*data_dir)(trib_host_ctx *ctx);
#endif

#if TRIB_ABI_TARGET_MINOR >= 2
    /* Any thread. Takes `bytes` from the host-wide budget for data in flight (request
     * bodies the host or a module holds, decompressed parts, decoded profiles), so that
     * many large requests at once cannot exhaust memory. OK: reserved — the caller must
     * give exactly the same amount back with memory_release once the memory is freed.
     * BACKPRESSURE: the budget is spent right now, nothing was reserved; answer the client
     * with a retry (HTTP 429 + Retry-After / gRPC RESOURCE_EXHAUSTED). INVALID_ARGUMENT:
     * `bytes` alone exceeds the whole budget, so retrying cannot help (HTTP 413). */
    trib_status (*memory_reserve)(trib_host_ctx *ctx, uint64_t bytes);
    /* Any thread. Returns bytes taken with memory_reserve. */
    void (*memory_release)(trib_host_ctx *ctx, uint64_t bytes);
#endif
} trib_host_api_t;

/* ---------------------------------------------------------------- module */

typedef enum trib_module_kind { TRIB_KIND_INPUT = 0, TRIB_KIND_SINK = 1 } trib_module_kind;

typedef struct trib_module {
    uint32_t struct_size;
    uint32_t abi_major;        /* TRIB_ABI_MAJOR the module was built with */
    uint32_t abi_minor;        /* TRIB_ABI_MINOR the module was built with */
    const char *name;          /* NUL-terminated, static; the config name (inputs.<name>) */
    const char *version;       /* NUL-terminated, static */
    uint32_t kind;             /* trib_module_kind */
    const char *description;   /* NUL-terminated, static */
    const char *sample_config; /* TOML text of <name>.conf.sample, static */

    /* Control thread. config_json is the instance's table as a JSON object (the host has
     * applied ENV_INPUT_<NAME>_<FIELD> overrides). On success sets *instance. host and ctx
     * stay valid until destroy() returns. On failure writes the reason into err. */
    trib_status (*create)(const trib_host_api_t *host, trib_host_ctx *ctx, trib_str instance_name, trib_str config_json,
                          void **instance, char *err, size_t err_cap);
    /* Control thread. Begin work (bind ports, register routes, start timers/threads). */
    trib_status (*start)(void *instance, char *err, size_t err_cap);
    /* Control thread. Returns only when the instance no longer calls emit(). */
    void (*stop)(void *instance);
    /* Control thread. Frees the instance. */
    void (*destroy)(void *instance);

    /* Sinks only (NULL for inputs). Called on the sink's own host thread, one batch at a
     * time. OK: written. RETRY: try again later (backoff). BACKPRESSURE: same as RETRY.
     * PERMANENT / INVALID_ARGUMENT: the batch is dropped, counted and logged. */
    trib_status (*write)(void *instance, const trib_batch *batch, char *err, size_t err_cap);

#if TRIB_ABI_TARGET_MINOR >= 1
    /* Optional. Control thread. Leadership changed (also called once after start()). */
    void (*on_leadership)(void *instance, bool is_leader);
    /* Optional. Any thread. OK = healthy; otherwise a reason in msg. */
    trib_status (*health)(void *instance, char *msg, size_t msg_cap);
#endif

#if TRIB_ABI_TARGET_MINOR >= 4
    /* Optional (NULL: not declared). NUL-terminated JSON, static: the module's config keys
     * as tributary/config_map.hpp declares them, {"section": "inputs.<name>", "keys": [{"name",
     * "type", "default", "range", "choices", "env", "doc", ...}]}. The host prints it for
     * `tributary --describe-config <name>`; it does not change how create() is called. */
    const char *config_table;
#endif
#if TRIB_ABI_TARGET_MINOR >= 5
    /* TRIB_MODULE_* bits below. */
    uint32_t flags;
#endif
} trib_module_t;

/* trib_module_t.flags (1.5). A sink module that reads attachments from the host's store
 * by trib_attachment.stored_path (or needs only names and sizes) is handed stored
 * attachments without their bytes, sparing a read of every file per write. */
#define TRIB_MODULE_READS_STORED_ATTACHMENTS 0x1u
/* A sink module that groups what it is given on its own schedule anyway (an index
 * committed every 200 ms): the host may hold its points up to 100 ms and hand over what
 * gathered in one write, sparing a wake-up of the sink's thread per emitted batch. Flag bits
 * are additive within 1.5: a host that does not know a bit ignores it. */
#define TRIB_MODULE_BATCHED_WRITES 0x2u

/* The two symbols every module exports.
 *  trib_module_abi_major(): the host calls it first and refuses the module, without
 *      running anything else of it, unless it equals the host's TRIB_ABI_MAJOR.
 *  trib_module_entry(): returns the static descriptor (OWNERSHIP: module's, valid while
 *      loaded; modules are never unloaded), or NULL if the module refuses this host. */
#define TRIB_ENTRY_SYMBOL "trib_module_entry"
#define TRIB_ABI_PROBE_SYMBOL "trib_module_abi_major"
typedef const trib_module_t *(*trib_module_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);
typedef uint32_t (*trib_module_abi_major_fn)(void);

/* Declares the ABI probe; use once per module. */
#ifdef __cplusplus
#define TRIB_DECLARE_ABI_PROBE()                                                                                       \
    extern "C" TRIB_EXPORT uint32_t trib_module_abi_major(void) { return TRIB_ABI_MAJOR; }
#else
#define TRIB_DECLARE_ABI_PROBE()                                                                                       \
    TRIB_EXPORT uint32_t trib_module_abi_major(void) { return TRIB_ABI_MAJOR; }
#endif

#ifdef __cplusplus
}
#endif

#endif /* TRIBUTARY_PLUGIN_H */
