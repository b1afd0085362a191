/*
 * apijson: body parsing and typed field access. See apijson.h.
 */
#include "api/apijson.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int api_fail(api_error *err, int status, const char *code, const char *fmt, ...)
{
    err->status = status;
    err->code = code;
    err->retry_after_s = 0;
    err->has_funds = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

char *api_error_json(const api_error *err)
{
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", err->code ? err->code : "internal",
                          "message", err->message);
    if (o && err->has_funds) {
        json_t *e = json_object_get(o, "error");
        json_object_set_new(e, "needed", json_integer(err->needed));
        json_object_set_new(e, "balance", json_integer(err->balance));
    }
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

json_t *apijson_parse_object(const char *body, size_t len, api_error *err)
{
    return apijson_parse_object_flags(body, len, 0, err);
}

json_t *apijson_parse_object_flags(const char *body, size_t len, size_t flags, api_error *err)
{
    json_error_t je;
    if (!body || len == 0) {
        api_fail(err, 400, "invalid_json", "request body is empty");
        return NULL;
    }
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES | flags, &je);
    if (!o) {
        api_fail(err, 400, "invalid_json", "body is not valid JSON (line %d column %d)",
                 je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        api_fail(err, 400, "invalid_json", "body must be a JSON object");
        return NULL;
    }
    return o;
}

static json_t *apijson_field(json_t *obj, const char *name, bool required, api_error *err,
                             int *rc)
{
    json_t *v = json_object_get(obj, name);
    *rc = 0;
    if (!v || json_is_null(v)) {
        if (required)
            *rc = api_fail(err, 422, "missing_field", "field '%s' is required", name);
        return NULL;
    }
    return v;
}

int apijson_string(json_t *obj, const char *name, bool required, const char **out,
                   api_error *err)
{
    int rc;
    *out = NULL;
    json_t *v = apijson_field(obj, name, required, err, &rc);
    if (!v)
        return rc;
    if (!json_is_string(v))
        return api_fail(err, 400, "invalid_type", "field '%s' must be a string", name);
    *out = json_string_value(v);
    return 0;
}

int apijson_int(json_t *obj, const char *name, bool required, int64_t min, int64_t max,
                int64_t *out, bool *present, api_error *err)
{
    int rc;
    if (present)
        *present = false;
    json_t *v = apijson_field(obj, name, required, err, &rc);
    if (!v)
        return rc;
    if (!json_is_integer(v))
        return api_fail(err, 400, "invalid_type", "field '%s' must be an integer", name);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return api_fail(err, 422, "invalid_value", "field '%s' must be between %lld and %lld",
                        name, (long long)min, (long long)max);
    *out = x;
    if (present)
        *present = true;
    return 0;
}

int apijson_bool(json_t *obj, const char *name, bool *out, bool *present, api_error *err)
{
    int rc;
    *present = false;
    json_t *v = apijson_field(obj, name, false, err, &rc);
    if (!v)
        return rc;
    if (!json_is_boolean(v))
        return api_fail(err, 400, "invalid_type", "field '%s' must be a boolean", name);
    *out = json_is_true(v);
    *present = true;
    return 0;
}

int apijson_string_array(json_t *obj, const char *name, size_t max_items,
                         int (*check)(const char *), json_t **out, api_error *err)
{
    int rc;
    *out = NULL;
    json_t *v = apijson_field(obj, name, false, err, &rc);
    if (!v)
        return rc;
    if (!json_is_array(v))
        return api_fail(err, 400, "invalid_type", "field '%s' must be an array of strings", name);
    if (json_array_size(v) > max_items)
        return api_fail(err, 422, "invalid_value", "field '%s' has more than %zu items", name,
                        max_items);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!json_is_string(item))
            return api_fail(err, 400, "invalid_type", "field '%s' must be an array of strings",
                            name);
        if (check && check(json_string_value(item)) != 0)
            return api_fail(err, 422, "invalid_value", "field '%s' item %zu is not valid", name,
                            i);
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(v, j), item))
                return api_fail(err, 422, "invalid_value", "field '%s' has duplicates", name);
    }
    *out = v;
    return 0;
}

int apijson_only_fields(json_t *obj, const char *const *allowed, api_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = true;
        if (!ok)
            return api_fail(err, 422, "unknown_field", "field '%.64s' is not accepted here",
                            key);
    }
    return 0;
}
