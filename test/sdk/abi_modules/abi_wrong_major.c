/* A module built for ABI major 2. A host of major 1 must refuse it after calling only
 * trib_module_abi_major(). Should the host call anything else, the module leaves proof:
 * it appends the function's name to the file named by $TRIB_WRONG_MAJOR_MARKER. */
#include <tributary/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if TRIB_ABI_MAJOR != 2
#error "abi_wrong_major must be compiled with TRIB_ABI_MAJOR=2"
#endif

static void leave_marker(const char *what) {
    const char *path = getenv("TRIB_WRONG_MAJOR_MARKER");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%s\n", what);
    fclose(f);
}

static trib_status wm_create(const trib_host_api_t *host, trib_host_ctx *ctx, trib_str instance_name,
                             trib_str config_json, void **instance, char *err, size_t err_cap) {
    (void)host;
    (void)ctx;
    (void)instance_name;
    (void)config_json;
    (void)instance;
    leave_marker("create");
    if (err && err_cap) snprintf(err, err_cap, "abi_wrong_major must never be created by a major-1 host");
    return TRIB_FATAL;
}
static trib_status wm_start(void *instance, char *err, size_t err_cap) {
    (void)instance;
    (void)err;
    (void)err_cap;
    leave_marker("start");
    return TRIB_FATAL;
}
static void wm_stop(void *instance) {
    (void)instance;
    leave_marker("stop");
}
static void wm_destroy(void *instance) {
    (void)instance;
    leave_marker("destroy");
}

static const trib_module_t wm_descriptor = {
    sizeof(trib_module_t),
    TRIB_ABI_MAJOR,
    TRIB_ABI_MINOR,
    "abi_wrong_major",
    "2.0.0",
    TRIB_KIND_INPUT,
    "ABI test: built for major 2, must be refused",
    "[[inputs.abi_wrong_major]]\n",
    wm_create,
    wm_start,
    wm_stop,
    wm_destroy,
    NULL,
    NULL,
    NULL,
};

TRIB_DECLARE_ABI_PROBE()

TRIB_EXPORT const trib_module_t *trib_module_entry(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_major;
    (void)host_abi_minor;
    leave_marker("trib_module_entry");
    /* Deliberately ignores host_abi_major: the host's probe check is what is tested. */
    return &wm_descriptor;
}
