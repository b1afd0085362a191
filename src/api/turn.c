/*
 * turn: ICE servers for clients and coturn shared-secret credentials. See turn.h.
 * The one HTTP handler at the end (GET /api/v1/ice-servers) is the only part that reads the
 * clock; everything above it is sans-IO.
 */
#include "api/turn.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/internal.h"

#define TURN_URI_MAX 256
#define TURN_DEFAULT_TTL_S 86400

struct turn {
    char *stun[TURN_URIS_MAX];
    int n_stun;
    char *turn[TURN_URIS_MAX];
    int n_turn;
    uint8_t *secret;
    size_t secret_len;
    int ttl_s;
};

/* ---- URI syntax (RFC 7064 stun/stuns, RFC 7065 turn/turns) ---- */

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* Skips "host" or "[v6]" at *s; false when there is none. */
static bool scan_host(const char **s)
{
    const char *p = *s;
    if (*p == '[') {
        p++;
        const char *start = p;
        while (isxdigit((unsigned char)*p) || *p == ':' || *p == '.')
            p++;
        if (p == start || *p != ']')
            return false;
        *s = p + 1;
        return true;
    }
    const char *start = p;
    while (host_char(*p))
        p++;
    if (p == start)
        return false;
    *s = p;
    return true;
}

/* Skips ":port" when present; false when it is malformed or out of 1..65535. */
static bool scan_port(const char **s)
{
    const char *p = *s;
    if (*p != ':')
        return true;
    p++;
    long v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p) && digits < 6) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || v < 1 || v > 65535)
        return false;
    *s = p;
    return true;
}

/* Checks one URI of len bytes; a reason in why when it is bad. */
static bool uri_ok(const char *uri, size_t len, bool turn, const char **why)
{
    char buf[TURN_URI_MAX];
    if (len == 0 || len >= sizeof(buf)) {
        *why = len ? "too long" : "empty entry";
        return false;
    }
    memcpy(buf, uri, len);
    buf[len] = '\0';
    const char *scheme = turn ? "turn" : "stun";
    const char *p = buf;
    if (strncasecmp(p, scheme, 4) != 0) {
        *why = turn ? "must start with turn: or turns:" : "must start with stun: or stuns:";
        return false;
    }
    p += 4;
    if (*p == 's' || *p == 'S')
        p++;
    if (*p != ':') {
        *why = turn ? "must start with turn: or turns:" : "must start with stun: or stuns:";
        return false;
    }
    p++;
    if (!scan_host(&p)) {
        *why = "has no valid host";
        return false;
    }
    if (!scan_port(&p)) {
        *why = "has a bad port";
        return false;
    }
    if (*p == '\0')
        return true;
    if (turn && (strcasecmp(p, "?transport=udp") == 0 || strcasecmp(p, "?transport=tcp") == 0))
        return true;
    *why = turn ? "has trailing text (only ?transport=udp|tcp may follow the port)"
                : "has trailing text after the port";
    return false;
}

/* Calls fn on each trimmed, comma-separated entry; stops at the first false. */
typedef bool (*uri_fn)(const char *uri, size_t len, void *arg);

static bool uri_each(const char *list, uri_fn fn, void *arg)
{
    const char *p = list ? list : "";
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return true;
    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        while (p < stop && isspace((unsigned char)*p))
            p++;
        const char *e = stop;
        while (e > p && isspace((unsigned char)e[-1]))
            e--;
        if (!fn(p, (size_t)(e - p), arg))
            return false;
        if (!end)
            return true;
        p = end + 1;
    }
}

typedef struct check_ctx {
    bool turn;
    const char *setting;
    char *err;
    size_t errcap;
    int count;
} check_ctx;

static bool check_one(const char *uri, size_t len, void *arg)
{
    check_ctx *c = arg;
    const char *why = NULL;
    /* No setting name: the caller (config_check_setting) puts its own in front. */
    const char *name = c->setting ? c->setting : "", *sep = c->setting ? ": " : "";
    if (c->count >= TURN_URIS_MAX) {
        snprintf(c->err, c->errcap, "%s%smore than %d URIs", name, sep, TURN_URIS_MAX);
        return false;
    }
    if (!uri_ok(uri, len, c->turn, &why)) {
        snprintf(c->err, c->errcap, "%s%s\"%.*s\" %s", name, sep,
                 (int)(len > 80 ? 80 : len), uri, why);
        return false;
    }
    c->count++;
    return true;
}

int turn_uri_list_check(const char *list, bool turn, const char *setting, char *err,
                        size_t errcap)
{
    check_ctx c = {.turn = turn, .setting = setting, .err = err,
                   .errcap = errcap};
    return uri_each(list, check_one, &c) ? c.count : -1;
}

/* ---- credentials ---- */

int turn_credential(const uint8_t *secret, size_t secret_len, const char *username, char *out,
                    size_t cap)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    /* base64 of the 20-byte SHA-1 MAC: 28 characters and the NUL EVP_EncodeBlock writes */
    if (cap < 29)
        return -1;
    /* HMAC with an empty key is well defined; a NULL key pointer is not, so give it one. */
    static const uint8_t empty = 0;
    if (!HMAC(EVP_sha1(), secret_len ? secret : &empty, (int)secret_len,
              (const unsigned char *)username, strlen(username), mac, &mac_len) ||
        mac_len != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
    return 0;
}

int turn_mint(const uint8_t *secret, size_t secret_len, int64_t expiry, uint64_t user_id,
              char *username, size_t ucap, char *credential, size_t ccap)
{
    int n = snprintf(username, ucap, "%" PRId64 ":%" PRIu64, expiry, user_id);
    if (n < 0 || (size_t)n >= ucap)
        return -1;
    return turn_credential(secret, secret_len, username, credential, ccap);
}

/* ---- the configured set ---- */

typedef struct collect_ctx {
    char **out;
    int *n;
} collect_ctx;

static bool collect_one(const char *uri, size_t len, void *arg)
{
    collect_ctx *c = arg;
    char *s = strndup(uri, len);
    if (!s)
        return false;
    c->out[(*c->n)++] = s;
    return true;
}

turn_t *turn_create(const turn_config *cfg, char *err, size_t errcap)
{
    if (turn_uri_list_check(cfg->stun_uris, false, "media.stun_uris", err, errcap) < 0 ||
        turn_uri_list_check(cfg->turn_uris, true, "media.turn_uris", err, errcap) < 0)
        return NULL;
    turn_t *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    t->ttl_s = cfg->ttl_s > 0 ? cfg->ttl_s : TURN_DEFAULT_TTL_S;
    collect_ctx s = {t->stun, &t->n_stun}, u = {t->turn, &t->n_turn};
    const char *secret = cfg->secret ? cfg->secret : "";
    t->secret_len = strlen(secret);
    t->secret = malloc(t->secret_len + 1);
    if (!t->secret || !uri_each(cfg->stun_uris, collect_one, &s) ||
        !uri_each(cfg->turn_uris, collect_one, &u)) {
        turn_destroy(t);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    memcpy(t->secret, secret, t->secret_len + 1);
    return t;
}

void turn_destroy(turn_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_stun; i++)
        free(t->stun[i]);
    for (int i = 0; i < t->n_turn; i++)
        free(t->turn[i]);
    if (t->secret)
        memset(t->secret, 0, t->secret_len);
    free(t->secret);
    free(t);
}

static json_t *uri_array(char *const *uris, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(uris[i]));
    return a;
}

json_t *turn_ice_servers_json(const turn_t *t, uint64_t user_id, int64_t now)
{
    json_t *servers = json_array();
    if (!servers)
        return NULL;
    if (t->n_stun > 0)
        json_array_append_new(servers, json_pack("{s:o}", "urls", uri_array(t->stun, t->n_stun)));
    if (t->n_turn > 0 && t->secret_len > 0) {
        char user[TURN_USERNAME_MAX], cred[TURN_CREDENTIAL_MAX];
        if (turn_mint(t->secret, t->secret_len, now + t->ttl_s, user_id, user, sizeof(user), cred,
                      sizeof(cred)) != 0) {
            json_decref(servers);
            return NULL;
        }
        json_array_append_new(servers, json_pack("{s:o,s:s,s:s}", "urls",
                                                 uri_array(t->turn, t->n_turn), "username", user,
                                                 "credential", cred));
    }
    return json_pack("{s:o,s:i}", "ice_servers", servers, "ttl", (json_int_t)t->ttl_s);
}

/* ---- GET /api/v1/ice-servers (authenticated) ---- */

int turn_ice_servers(api_req *rq, api_resp *rs)
{
    json_t *body = rq->p->turn ? turn_ice_servers_json(rq->p->turn, rq->auth.user_id,
                                                       (int64_t)time(NULL))
                               : json_pack("{s:[],s:i}", "ice_servers", "ttl", 0);
    if (!body)
        return api_fail(&rs->err, 500, "internal", "out of memory");
    return api_ok(rs, 200, body);
}
