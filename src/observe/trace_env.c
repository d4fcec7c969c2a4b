/*
 * trace_env.c - jwts_tracer_options_from_env(): the OpenTelemetry SDK environment variables.
 *
 * Names and meanings follow the OpenTelemetry specification's "Environment Variable
 * Specification": OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is, OTEL_EXPORTER_OTLP_ENDPOINT
 * gets "/v1/traces" appended, OTEL_SERVICE_NAME wins over a service.name in
 * OTEL_RESOURCE_ATTRIBUTES, and a ratio sampler without OTEL_TRACES_SAMPLER_ARG samples all.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwtsession/error.h"
#include "jwtsession/trace.h"

static const struct {
    const char *name;
    jwts_sampler sampler;
} SAMPLERS[] = {
    {"always_on", JWTS_SAMPLER_ALWAYS_ON},
    {"always_off", JWTS_SAMPLER_ALWAYS_OFF},
    {"traceidratio", JWTS_SAMPLER_TRACEIDRATIO},
    {"parentbased_always_on", JWTS_SAMPLER_PARENTBASED_ALWAYS_ON},
    {"parentbased_always_off", JWTS_SAMPLER_PARENTBASED_ALWAYS_OFF},
    {"parentbased_traceidratio", JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO},
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A non-negative integer variable into *out; false (out untouched) if set but not a number. */
static bool env_int(const char *name, int64_t *out, bool *set)
{
    const char *v = env(name);
    *set = false;
    if (!v) return true;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < 0) return false;
    *out = n;
    *set = true;
    return true;
}

jwts_err jwts_tracer_options_from_env(jwts_tracer_options *o)
{
    if (!o) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer_options_from_env: NULL options");
    const char *bad = NULL;
    const char *v;
    if ((v = env("OTEL_SDK_DISABLED"))) o->disabled = strcasecmp(v, "true") == 0;
    if ((v = env("OTEL_SERVICE_NAME"))) o->service_name = v;
    if ((v = env("OTEL_RESOURCE_ATTRIBUTES"))) o->resource_attributes = v;
    if ((v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) o->traces_endpoint = v;
    if ((v = env("OTEL_EXPORTER_OTLP_ENDPOINT"))) o->endpoint = v;
    if ((v = env("OTEL_TRACES_SAMPLER"))) {
        size_t i = 0;
        while (i < sizeof SAMPLERS / sizeof *SAMPLERS && strcasecmp(SAMPLERS[i].name, v)) i++;
        if (i < sizeof SAMPLERS / sizeof *SAMPLERS) {
            o->sampler = SAMPLERS[i].sampler;
            if (o->sampler == JWTS_SAMPLER_TRACEIDRATIO || o->sampler == JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO)
                o->ratio = 1.0; /* the specified default when no argument follows */
        } else {
            bad = "OTEL_TRACES_SAMPLER";
        }
    }
    if ((v = env("OTEL_TRACES_SAMPLER_ARG"))) {
        char *end;
        double r = strtod(v, &end);
        if (*end || isnan(r) || r < 0 || r > 1)
            bad = "OTEL_TRACES_SAMPLER_ARG";
        else
            o->ratio = r;
    }
    static const char *const BSP[] = {"OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                                      "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT"};
    for (int i = 0; i < 4; i++) {
        int64_t n = 0;
        bool set;
        if (!env_int(BSP[i], &n, &set)) {
            bad = BSP[i];
            continue;
        }
        if (!set) continue;
        if (i == 0)
            o->queue_size = (size_t)n;
        else if (i == 1)
            o->batch_size = (size_t)n;
        else if (i == 2)
            o->export_interval_ms = n;
        else
            o->export_timeout_ms = n;
    }
    if (bad) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s has a value this tracer does not accept", bad);
    return JWTS_OK;
}
