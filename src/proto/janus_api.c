/*
 * janus_api: see janus_api.h. The checks run in the order Janus applies them, so that a
 * request with several problems gets the same error code from us as from Janus.
 */
#include "proto/janus_api.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const verb_names[] = {
    [JANUS_VERB_INFO] = "info",       [JANUS_VERB_PING] = "ping",       [JANUS_VERB_CREATE] = "create",
    [JANUS_VERB_CLAIM] = "claim",     [JANUS_VERB_ATTACH] = "attach",   [JANUS_VERB_MESSAGE] = "message",
    [JANUS_VERB_TRICKLE] = "trickle", [JANUS_VERB_KEEPALIVE] = "keepalive", [JANUS_VERB_DETACH] = "detach",
    [JANUS_VERB_HANGUP] = "hangup",   [JANUS_VERB_DESTROY] = "destroy",
};
#define VERB_COUNT (sizeof verb_names / sizeof verb_names[0])

const char *janus_verb_name(janus_verb v) { return (size_t)v < VERB_COUNT ? verb_names[v] : "?"; }

const char *janus_error_default_reason(int code)
{
    switch (code) {
    case JANUS_ERROR_UNAUTHORIZED: return "Unauthorized request (wrong or missing secret/token)";
    case JANUS_ERROR_UNAUTHORIZED_PLUGIN: return "Unauthorized access to plugin (token is not allowed to)";
    case JANUS_ERROR_TRANSPORT_SPECIFIC: return "Transport specific error";
    case JANUS_ERROR_MISSING_REQUEST: return "Missing request";
    case JANUS_ERROR_UNKNOWN_REQUEST: return "Unknown request";
    case JANUS_ERROR_INVALID_JSON: return "Invalid JSON";
    case JANUS_ERROR_INVALID_JSON_OBJECT: return "Invalid JSON Object";
    case JANUS_ERROR_MISSING_MANDATORY_ELEMENT: return "Missing mandatory element";
    case JANUS_ERROR_INVALID_REQUEST_PATH: return "Invalid path for this request";
    case JANUS_ERROR_SESSION_NOT_FOUND: return "Session not found";
    case JANUS_ERROR_HANDLE_NOT_FOUND: return "Handle not found";
    case JANUS_ERROR_PLUGIN_NOT_FOUND: return "Plugin not found";
    case JANUS_ERROR_PLUGIN_ATTACH: return "Error attaching plugin";
    case JANUS_ERROR_PLUGIN_MESSAGE: return "Error sending message to plugin";
    case JANUS_ERROR_PLUGIN_DETACH: return "Error detaching from plugin";
    case JANUS_ERROR_JSEP_UNKNOWN_TYPE: return "Unsupported JSEP type";
    case JANUS_ERROR_JSEP_INVALID_SDP: return "Invalid SDP";
    case JANUS_ERROR_TRICKLE_INVALID_STREAM: return "Invalid stream";
    case JANUS_ERROR_INVALID_ELEMENT_TYPE: return "Invalid element type";
    case JANUS_ERROR_SESSION_CONFLICT: return "Session ID already in use";
    case JANUS_ERROR_UNEXPECTED_ANSWER: return "Unexpected ANSWER (no OFFER)";
    case JANUS_ERROR_TOKEN_NOT_FOUND: return "Token not found";
    case JANUS_ERROR_WEBRTC_STATE: return "Wrong WebRTC state";
    case JANUS_ERROR_NOT_ACCEPTING_SESSIONS: return "Currently not accepting new sessions";
    default: return "Unknown error";
    }
}

static int fail(janus_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(janus_error *err, int code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return -1;
}

/* Rejects documents nested deeper than the limit before jansson recurses into them. */
static bool depth_ok(const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > JANUS_API_MAX_DEPTH)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

int janus_path_parse(const char *path, janus_path *out, janus_error *err)
{
    memset(out, 0, sizeof *out);
    out->from_path = true;
    memset(err, 0, sizeof *err);
    if (strncmp(path, "/janus", 6) != 0 || (path[6] != '\0' && path[6] != '/'))
        return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Invalid path %s", path);
    const char *p = path + 6;
    uint64_t ids[2] = {0, 0};
    int n = 0;
    while (*p == '/') {
        p++;
        if (*p == '\0')
            break;
        if (n == 2)
            return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Invalid path %s", path);
        if (*p < '0' || *p > '9')
            return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Invalid session/handle id in path %s", path);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || v == 0 || (*end != '\0' && *end != '/'))
            return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Invalid session/handle id in path %s", path);
        ids[n++] = v;
        p = end;
    }
    out->session_id = ids[0];
    out->handle_id = ids[1];
    return 0;
}

static int parse_verb(const char *name, janus_verb *out)
{
    for (size_t i = 0; i < VERB_COUNT; i++)
        if (strcmp(name, verb_names[i]) == 0) {
            *out = (janus_verb)i;
            return 0;
        }
    return -1;
}

static bool verb_allowed(janus_verb v, janus_level level)
{
    switch (level) {
    case JANUS_LEVEL_ROOT:
        return v == JANUS_VERB_CREATE || v == JANUS_VERB_INFO || v == JANUS_VERB_PING;
    case JANUS_LEVEL_SESSION:
        return v == JANUS_VERB_ATTACH || v == JANUS_VERB_KEEPALIVE || v == JANUS_VERB_DESTROY ||
               v == JANUS_VERB_CLAIM || v == JANUS_VERB_PING;
    case JANUS_LEVEL_HANDLE:
        return v == JANUS_VERB_MESSAGE || v == JANUS_VERB_TRICKLE || v == JANUS_VERB_DETACH ||
               v == JANUS_VERB_HANGUP || v == JANUS_VERB_PING;
    }
    return false;
}

/* Reads an optional positive integer id member; other types read as absent (Janus does the
 * same with session_id/handle_id), -1 only for "id" fields the caller checks strictly. */
static int read_id(json_t *root, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(root, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_jsep(janus_request *req, janus_error *err)
{
    json_t *jsep = json_object_get(req->root, "jsep");
    if (!jsep)
        return 0;
    if (!json_is_object(jsep))
        return fail(err, JANUS_ERROR_INVALID_JSON_OBJECT, "JSON error: jsep is not an object");
    json_t *type = json_object_get(jsep, "type");
    if (!type)
        return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "JSEP error: missing mandatory element (type)");
    if (!json_is_string(type))
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (type should be a string)");
    const char *t = json_string_value(type);
    if (strcmp(t, "offer") != 0 && strcmp(t, "answer") != 0)
        return fail(err, JANUS_ERROR_JSEP_UNKNOWN_TYPE, "JSEP error: unknown message type '%s'", t);
    json_t *sdp = json_object_get(jsep, "sdp");
    if (!sdp)
        return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "JSEP error: missing mandatory element (sdp)");
    if (!json_is_string(sdp))
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (sdp should be a string)");
    json_t *trickle = json_object_get(jsep, "trickle");
    if (trickle && !json_is_boolean(trickle))
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (trickle should be a boolean)");
    json_t *restart = json_object_get(jsep, "restart");
    req->jsep = jsep;
    req->jsep_type = t;
    req->jsep_sdp = json_string_value(sdp);
    req->jsep_trickle = trickle ? json_is_true(trickle) : true;
    req->jsep_ice_restart = restart && json_is_true(restart);
    return 0;
}

int janus_candidate_parse(json_t *obj, const char **candidate, const char **sdp_mid, int *mline)
{
    if (!json_is_object(obj))
        return -1;
    json_t *completed = json_object_get(obj, "completed");
    if (completed)
        return json_is_true(completed) ? 0 : -1;
    json_t *c = json_object_get(obj, "candidate");
    if (!json_is_string(c))
        return -1;
    json_t *mid = json_object_get(obj, "sdpMid");
    json_t *idx = json_object_get(obj, "sdpMLineIndex");
    if (mid && !json_is_string(mid) && !json_is_null(mid))
        return -1;
    if (idx && !json_is_integer(idx) && !json_is_null(idx))
        return -1;
    *candidate = json_string_value(c);
    *sdp_mid = json_is_string(mid) ? json_string_value(mid) : NULL;
    *mline = json_is_integer(idx) ? (int)json_integer_value(idx) : -1;
    return 1;
}

static int parse_verb_fields(janus_request *req, janus_error *err)
{
    json_t *root = req->root;
    switch (req->verb) {
    case JANUS_VERB_ATTACH: {
        json_t *plugin = json_object_get(root, "plugin");
        if (!plugin)
            return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (plugin)");
        if (!json_is_string(plugin))
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (plugin should be a string)");
        req->plugin = json_string_value(plugin);
        json_t *opaque = json_object_get(root, "opaque_id");
        if (opaque && !json_is_string(opaque))
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (opaque_id should be a string)");
        req->opaque_id = opaque ? json_string_value(opaque) : NULL;
        return 0;
    }
    case JANUS_VERB_CREATE:
    case JANUS_VERB_CLAIM:
        if (read_id(root, "id", &req->requested_id) < 0)
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (id should be a positive integer)");
        return 0;
    case JANUS_VERB_MESSAGE: {
        json_t *body = json_object_get(root, "body");
        if (!body)
            return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (body)");
        if (!json_is_object(body))
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (body should be an object)");
        req->body = body;
        return parse_jsep(req, err);
    }
    case JANUS_VERB_TRICKLE: {
        json_t *cand = json_object_get(root, "candidate");
        json_t *cands = json_object_get(root, "candidates");
        if (!cand && !cands)
            return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (candidate|candidates)");
        if (cand && cands)
            return fail(err, JANUS_ERROR_INVALID_JSON, "Can't have both candidate and candidates");
        if (cand && !json_is_object(cand))
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (candidate should be an object)");
        if (cands && !json_is_array(cands))
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (candidates should be an array)");
        req->candidate = cand;
        req->candidates = cands;
        return 0;
    }
    default:
        return 0;
    }
}

static int copy_transaction(json_t *root, janus_request *req, janus_error *err)
{
    json_t *tr = json_object_get(root, "transaction");
    if (tr && json_is_string(tr)) {
        size_t n = strlen(json_string_value(tr));
        if (n > JANUS_API_MAX_TRANSACTION)
            return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Transaction too long");
        memcpy(req->transaction, json_string_value(tr), n + 1);
        memcpy(err->transaction, req->transaction, n + 1);
    }
    return 0;
}

static int check_header(janus_request *req, const char **verb_name, janus_error *err)
{
    json_t *root = req->root;
    json_t *tr = json_object_get(root, "transaction");
    if (!tr)
        return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (transaction)");
    if (!json_is_string(tr))
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (transaction should be a string)");
    if (copy_transaction(root, req, err) < 0)
        return -1;
    json_t *verb = json_object_get(root, "janus");
    if (!verb)
        return fail(err, JANUS_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (janus)");
    if (!json_is_string(verb))
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (janus should be a string)");
    *verb_name = json_string_value(verb);
    json_t *token = json_object_get(root, "token");
    if (token && !json_is_string(token))
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (token should be a string)");
    req->token = token ? json_string_value(token) : NULL;
    return 0;
}

static int resolve_level(janus_request *req, const janus_path *path, janus_error *err)
{
    if (path && path->from_path) {
        req->session_id = path->session_id;
        req->handle_id = path->handle_id;
    } else {
        read_id(req->root, "session_id", &req->session_id);
        read_id(req->root, "handle_id", &req->handle_id);
        if (req->handle_id && !req->session_id)
            return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Handle id without a session id");
    }
    req->level = req->handle_id ? JANUS_LEVEL_HANDLE : req->session_id ? JANUS_LEVEL_SESSION : JANUS_LEVEL_ROOT;
    return 0;
}

int janus_request_parse(const char *text, size_t len, const janus_path *path, janus_request *req, janus_error *err)
{
    memset(req, 0, sizeof *req);
    memset(err, 0, sizeof *err);
    if (!text || len == 0)
        return fail(err, JANUS_ERROR_MISSING_REQUEST, "Missing request body");
    if (!depth_ok(text, len))
        return fail(err, JANUS_ERROR_INVALID_JSON, "JSON error: nested too deeply");
    json_error_t jerr;
    req->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req->root)
        return fail(err, JANUS_ERROR_INVALID_JSON, "JSON error: %s", jerr.text);
    if (!json_is_object(req->root))
        return fail(err, JANUS_ERROR_INVALID_JSON_OBJECT, "JSON error: not an object");
    const char *verb_name = NULL;
    if (check_header(req, &verb_name, err) < 0)
        return -1;
    if (resolve_level(req, path, err) < 0)
        return -1;
    req->verb_name = verb_name;
    if (parse_verb(verb_name, &req->verb) < 0)
        req->verb = JANUS_VERB_UNKNOWN;
    if (req->level != JANUS_LEVEL_ROOT)
        return 0;
    if (!verb_allowed(req->verb, req->level))
        return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Unhandled request '%s' at this path", verb_name);
    return parse_verb_fields(req, err);
}

int janus_request_check(janus_request *req, janus_error *err)
{
    if (req->level == JANUS_LEVEL_ROOT)
        return 0;
    if (req->verb == JANUS_VERB_UNKNOWN || req->verb == JANUS_VERB_CREATE || req->verb == JANUS_VERB_INFO)
        return fail(err, JANUS_ERROR_UNKNOWN_REQUEST, "Unknown request '%s'", req->verb_name);
    if (!verb_allowed(req->verb, req->level))
        return fail(err, JANUS_ERROR_INVALID_REQUEST_PATH, "Unhandled request '%s' at this path", req->verb_name);
    return parse_verb_fields(req, err);
}

void janus_request_clear(janus_request *req)
{
    if (req->root)
        json_decref(req->root);
    memset(req, 0, sizeof *req);
}

static char *dump_and_free(json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return text;
}

static json_t *base(const char *verb, uint64_t session_id, const char *transaction)
{
    json_t *o = json_object();
    json_object_set_new(o, "janus", json_string(verb));
    if (session_id)
        json_object_set_new(o, "session_id", json_integer((json_int_t)session_id));
    if (transaction && transaction[0])
        json_object_set_new(o, "transaction", json_string(transaction));
    return o;
}

char *janus_build_error(uint64_t session_id, const char *transaction, int code, const char *reason)
{
    json_t *o = base("error", session_id, transaction);
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "reason", json_string(reason && reason[0] ? reason : janus_error_default_reason(code)));
    json_object_set_new(o, "error", e);
    return dump_and_free(o);
}

char *janus_build_ack(uint64_t session_id, const char *transaction, const char *hint)
{
    json_t *o = base("ack", session_id, transaction);
    if (hint)
        json_object_set_new(o, "hint", json_string(hint));
    return dump_and_free(o);
}

char *janus_build_success_id(uint64_t session_id, const char *transaction, uint64_t id)
{
    json_t *o = base("success", session_id, transaction);
    json_t *d = json_object();
    json_object_set_new(d, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "data", d);
    return dump_and_free(o);
}

char *janus_build_success(uint64_t session_id, const char *transaction, uint64_t sender)
{
    json_t *o = base("success", session_id, transaction);
    if (sender)
        json_object_set_new(o, "sender", json_integer((json_int_t)sender));
    return dump_and_free(o);
}

char *janus_build_pong(const char *transaction) { return dump_and_free(base("pong", 0, transaction)); }
