/*
 * janus_api: the Janus client protocol (API v1 core) as a sans-IO module: JSON text in,
 * a validated request out (or the exact Janus error code and reason), and builders for the
 * replies and events the server sends. No sessions, no sockets, no clock here.
 *
 * Validation follows Janus 1.1.2's observable behaviour: body not JSON or nested deeper than
 * JANUS_API_MAX_DEPTH -> 454; not an object -> 455; missing "janus" or "transaction" (or a
 * verb's mandatory element) -> 456; unknown verb or a verb at the wrong level -> 457 (the
 * level is the HTTP path, or the ids present in a WebSocket message); an element of the wrong
 * JSON type -> 467; jsep with an unknown type -> 464.
 *
 * Ownership: janus_request_parse stores the parsed document in req->root (owned by req);
 * body/jsep/candidate point inside it. janus_request_clear frees it. Builders return
 * malloc'd NUL-terminated JSON text the caller frees.
 * Threads: pure functions, any thread.
 */
#ifndef PARLEY_PROTO_JANUS_API_H
#define PARLEY_PROTO_JANUS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JANUS_API_MAX_DEPTH 32
#define JANUS_API_MAX_TRANSACTION 256

/* Janus's public error codes (janus/apierror.h values). */
enum janus_error_code {
    JANUS_OK = 0,
    JANUS_ERROR_UNAUTHORIZED = 403,
    JANUS_ERROR_UNAUTHORIZED_PLUGIN = 405,
    JANUS_ERROR_UNKNOWN = 490,
    JANUS_ERROR_TRANSPORT_SPECIFIC = 450,
    JANUS_ERROR_MISSING_REQUEST = 452,
    JANUS_ERROR_UNKNOWN_REQUEST = 453,
    JANUS_ERROR_INVALID_JSON = 454,
    JANUS_ERROR_INVALID_JSON_OBJECT = 455,
    JANUS_ERROR_MISSING_MANDATORY_ELEMENT = 456,
    JANUS_ERROR_INVALID_REQUEST_PATH = 457,
    JANUS_ERROR_SESSION_NOT_FOUND = 458,
    JANUS_ERROR_HANDLE_NOT_FOUND = 459,
    JANUS_ERROR_PLUGIN_NOT_FOUND = 460,
    JANUS_ERROR_PLUGIN_ATTACH = 461,
    JANUS_ERROR_PLUGIN_MESSAGE = 462,
    JANUS_ERROR_PLUGIN_DETACH = 463,
    JANUS_ERROR_JSEP_UNKNOWN_TYPE = 464,
    JANUS_ERROR_JSEP_INVALID_SDP = 465,
    JANUS_ERROR_TRICKLE_INVALID_STREAM = 466,
    JANUS_ERROR_INVALID_ELEMENT_TYPE = 467,
    JANUS_ERROR_SESSION_CONFLICT = 468,
    JANUS_ERROR_UNEXPECTED_ANSWER = 469,
    JANUS_ERROR_TOKEN_NOT_FOUND = 470,
    JANUS_ERROR_WEBRTC_STATE = 471,
    JANUS_ERROR_NOT_ACCEPTING_SESSIONS = 472,
};

typedef enum janus_verb {
    JANUS_VERB_INFO = 0,
    JANUS_VERB_PING,
    JANUS_VERB_CREATE,
    JANUS_VERB_CLAIM,
    JANUS_VERB_ATTACH,
    JANUS_VERB_MESSAGE,
    JANUS_VERB_TRICKLE,
    JANUS_VERB_KEEPALIVE,
    JANUS_VERB_DETACH,
    JANUS_VERB_HANGUP,
    JANUS_VERB_DESTROY,
    JANUS_VERB_UNKNOWN,       /* not a verb we know: 453 once the session is found */
} janus_verb;

/* Where a request was addressed: root (no ids), a session, or a handle. */
typedef enum janus_level {
    JANUS_LEVEL_ROOT = 0,
    JANUS_LEVEL_SESSION,
    JANUS_LEVEL_HANDLE,
} janus_level;

typedef struct janus_request {
    janus_verb verb;
    janus_level level;
    const char *verb_name;    /* as the client wrote it */
    char transaction[JANUS_API_MAX_TRANSACTION + 1];
    uint64_t session_id;      /* 0 at root */
    uint64_t handle_id;       /* 0 unless handle level */
    const char *token;        /* may be NULL */
    const char *plugin;       /* attach */
    const char *opaque_id;    /* attach, optional */
    uint64_t requested_id;    /* create/attach "id", optional (0) */
    json_t *body;             /* message */
    json_t *jsep;             /* message, optional; type already checked */
    const char *jsep_type;    /* "offer" | "answer" when jsep */
    const char *jsep_sdp;
    bool jsep_trickle;        /* jsep "trickle" (default true) */
    bool jsep_ice_restart;    /* jsep "e2ee"/"restart" hint (informational) */
    json_t *candidate;        /* trickle: one object */
    json_t *candidates;       /* trickle: array */
    json_t *root;             /* owned */
} janus_request;

typedef struct janus_error {
    int code;
    char reason[256];
    char transaction[JANUS_API_MAX_TRANSACTION + 1]; /* echoed when known */
} janus_error;

/* Path ids from HTTP (0 = absent). For WebSocket pass path_session = path_handle = 0 and
 * from_path = false: the ids come from the message. */
typedef struct janus_path {
    bool from_path;
    uint64_t session_id;
    uint64_t handle_id;
} janus_path;

/* Parses the envelope: JSON, "transaction", "janus", "token", the ids and so the level.
 * A root-level request is checked completely here (only create, info and ping exist there:
 * anything else is 457). A session- or handle-level request is checked further by
 * janus_request_check, which the caller runs once it has found the session (and handle):
 * Janus reports an unknown session (458) or handle (459) before a bad verb or field.
 * Ids of the wrong JSON type are ignored, as Janus does. 0 on success; -1 with err filled. */
int janus_request_parse(const char *text, size_t len, const janus_path *path, janus_request *req,
                        janus_error *err);
/* Session/handle level: unknown verb -> 453, a verb of another level -> 457, then the verb's
 * own elements (456 missing, 467 wrong type, 455 jsep not an object, 464 jsep type). */
int janus_request_check(janus_request *req, janus_error *err);
void janus_request_clear(janus_request *req);
const char *janus_verb_name(janus_verb v);

/* Parses the "/janus/<session>/<handle>" path; returns -1 with 457 when an id segment is not
 * a positive decimal number or there are too many segments. */
int janus_path_parse(const char *path, janus_path *out, janus_error *err);

/* A trickle candidate object: {candidate, sdpMid, sdpMLineIndex} or {completed:true}.
 * Returns 1 for a candidate (fields set), 0 for completed, -1 when malformed. */
int janus_candidate_parse(json_t *obj, const char **candidate, const char **sdp_mid, int *mline);

/* Builders (malloc'd JSON text). session_id 0 = omitted. transaction NULL = omitted. */
char *janus_build_error(uint64_t session_id, const char *transaction, int code, const char *reason);
char *janus_build_ack(uint64_t session_id, const char *transaction, const char *hint);
char *janus_build_success_id(uint64_t session_id, const char *transaction, uint64_t id);
char *janus_build_success(uint64_t session_id, const char *transaction, uint64_t sender);
char *janus_build_pong(const char *transaction);
const char *janus_error_default_reason(int code);

#endif
