/*
 * turn: the ICE servers a client should use (GET /api/v1/ice-servers) — the STUN and TURN
 * URIs from the config, and short-lived TURN credentials in the shared-secret scheme coturn
 * understands ("TURN REST API", coturn's use-auth-secret / static-auth-secret):
 *     username   = "<expiry unix time>:<user id>"
 *     credential = base64(HMAC-SHA1(key = secret, message = username))   (standard base64)
 * coturn recomputes the credential from its copy of the secret and refuses the allocation
 * (401) once the expiry has passed, so the server never talks to the TURN server.
 *
 * These URIs are for clients only. The server's own libnice gathering uses the separate
 * media.stun_server / media.turn_server settings (host:port, static TURN user/password).
 *
 * Sans-IO: time comes in as an argument; no sockets, no clock, no globals.
 * Threads: turn_t is immutable after turn_create, so any thread may read it.
 * Ownership: turn_create copies the strings it is given; turn_ice_servers_json returns a new
 * reference the caller owns.
 * Errors: -1 (or NULL) with a message naming the setting in err; nothing is logged here.
 */
#ifndef PARLEY_API_TURN_H
#define PARLEY_API_TURN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TURN_USERNAME_MAX 48      /* 20 digits + ':' + 20 digits + NUL fits */
#define TURN_CREDENTIAL_MAX 32    /* base64 of 20 bytes is 28 chars + NUL */
#define TURN_URIS_MAX 8           /* per list; more is a configuration error */

typedef struct turn_config {
    const char *stun_uris;        /* "stun:host[:port]" or "stuns:...", comma-separated; "" */
    const char *turn_uris;        /* "turn:host[:port][?transport=udp|tcp]" / "turns:...", ","-sep. */
    const char *secret;           /* coturn's static-auth-secret; "" = no TURN entry */
    int ttl_s;                    /* credential lifetime; <= 0 = 86400 */
} turn_config;

typedef struct turn turn_t;

/* Validates a comma-separated URI list (empty is valid). turn=false accepts stun:/stuns:,
 * turn=true accepts turn:/turns: (RFC 7064 / RFC 7065 syntax: a host, an optional port, and
 * for TURN an optional ?transport=udp|tcp). setting names the list in the error message
 * ("<setting>: <why>"); NULL leaves the name out (config_check_setting adds its own).
 * Returns the number of URIs, or -1. */
int turn_uri_list_check(const char *list, bool turn, const char *setting, char *err,
                        size_t errcap);

/* credential = base64(HMAC-SHA1(secret, username)). 0, or -1 when out is too small. */
int turn_credential(const uint8_t *secret, size_t secret_len, const char *username, char *out,
                    size_t cap);

/* Mints a username "<expiry>:<user_id>" and its credential. 0, or -1 on a short buffer. */
int turn_mint(const uint8_t *secret, size_t secret_len, int64_t expiry, uint64_t user_id,
              char *username, size_t ucap, char *credential, size_t ccap);

turn_t *turn_create(const turn_config *cfg, char *err, size_t errcap);
void turn_destroy(turn_t *t);

/* {"ice_servers":[{"urls":[stun...]},{"urls":[turn...],"username":..,"credential":..}],
 *  "ttl":N} for user_id at unix time now. The STUN entry is left out without stun URIs, the
 * TURN entry without turn URIs or without a secret. NULL only when out of memory. */
json_t *turn_ice_servers_json(const turn_t *t, uint64_t user_id, int64_t now);

#endif
