/*
 * apijson: request-body parsing and field validation for the platform API (jansson), and the
 * error value every handler returns.
 *
 * Error mapping (the API's contract, SPEC 3.2):
 *   body not JSON / not an object / duplicate keys -> 400 "invalid_json"
 *   a field of the wrong JSON type                 -> 400 "invalid_type"
 *   a required field missing                       -> 422 "missing_field"
 *   a value out of range / failing a rule          -> 422 "invalid_value"
 *   a field the endpoint does not know             -> 422 "unknown_field"
 * The message names the field. Codes are static strings.
 *
 * Ownership: apijson_parse_object returns a new reference (json_decref it). Getters return
 * borrowed pointers into the object. Threads: any.
 * Every getter returns 0 on success and -1 with *err filled.
 */
#ifndef PARLEY_API_APIJSON_H
#define PARLEY_API_APIJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct api_error {
    int status;
    const char *code;
    char message[192];
    int retry_after_s;     /* > 0: send Retry-After (429) */
    bool has_funds;        /* 402 insufficient_balance: "needed" and "balance" go into "error" */
    int64_t needed, balance;
} api_error;

/* Fills err and returns -1, so handlers can `return api_fail(...)`. */
int api_fail(api_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* {"error":{"code":..,"message":..}} as malloc'd text (+ "needed", "balance" when has_funds). */
char *api_error_json(const api_error *err);

json_t *apijson_parse_object(const char *body, size_t len, api_error *err);
/* The same with more jansson decoding flags (e.g. JSON_ALLOW_NUL, for a field that refuses a
 * NUL by its own rule). */
json_t *apijson_parse_object_flags(const char *body, size_t len, size_t flags, api_error *err);

/* *out = NULL when optional and absent. */
int apijson_string(json_t *obj, const char *name, bool required, const char **out,
                   api_error *err);
/* Integers only (1.0 is a type error); min..max inclusive. *present false when absent. */
int apijson_int(json_t *obj, const char *name, bool required, int64_t min, int64_t max,
                int64_t *out, bool *present, api_error *err);
int apijson_bool(json_t *obj, const char *name, bool *out, bool *present, api_error *err);
/* An array of at most max_items strings, each passing check (when non-NULL). *out is
 * borrowed; NULL when absent. Duplicates are refused. */
int apijson_string_array(json_t *obj, const char *name, size_t max_items,
                         int (*check)(const char *), json_t **out, api_error *err);
/* Refuses any key not in allowed (NULL-terminated). */
int apijson_only_fields(json_t *obj, const char *const *allowed, api_error *err);

#endif
