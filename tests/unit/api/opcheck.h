/*
 * opcheck.h: what the unit tests of plugin operations (billing, chat) share: run one
 * operation, given as printf-style JSON, through a platform's *_run entry point and return
 * its parsed outcome (CHECKed to be a JSON object), and read fields of outcomes.
 */
#ifndef PARLEY_TESTS_API_OPCHECK_H
#define PARLEY_TESTS_API_OPCHECK_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/platform.h"
#include "check.h"

typedef char *(*opcheck_runner)(platform_t *p, const char *op_json);

static json_t *opcheck_run(opcheck_runner run, platform_t *p, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static json_t *opcheck_run(opcheck_runner run, platform_t *p, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char *out = run(p, text);
    CHECK(out != NULL);
    json_t *r = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    CHECK(json_is_object(r));
    return r;
}

static inline int64_t num(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static inline const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static inline bool ok(json_t *o) { return json_is_true(json_object_get(o, "ok")); }
static inline const char *reason(json_t *o) { return str(o, "reason"); }

#endif
