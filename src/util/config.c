/*
 * config: see config.h. One table drives parsing of every layer, the help text and the dump,
 * so a setting cannot exist in one place and be missing from another.
 */
#include "util/config.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/config_checks.h"

typedef enum setting_kind { KIND_STR, KIND_INT, KIND_BOOL } setting_kind;

typedef struct setting {
    const char *section;
    const char *key;
    setting_kind kind;
    size_t offset;
    const char *default_value;
    long min, max;           /* KIND_INT bounds */
    bool secret;
    config_value_check check;   /* KIND_STR: run on the effective value once all layers are in */
    const char *help;
} setting;

#define S(sec, k, field, def, hlp) \
    {.section = sec, .key = k, .kind = KIND_STR, .offset = offsetof(server_config, field), .default_value = def, .help = hlp}
#define SC(sec, k, field, def, chk, hlp)                                                                        \
    {.section = sec, .key = k, .kind = KIND_STR, .offset = offsetof(server_config, field), .default_value = def, \
     .check = chk, .help = hlp}
#define SECRET(sec, k, field, def, hlp)                                                                         \
    {.section = sec, .key = k, .kind = KIND_STR, .offset = offsetof(server_config, field), .default_value = def, \
     .secret = true, .help = hlp}
#define I(sec, k, field, def, lo, hi, hlp)                                                                      \
    {.section = sec, .key = k, .kind = KIND_INT, .offset = offsetof(server_config, field), .default_value = def, \
     .min = lo, .max = hi, .help = hlp}
#define B(sec, k, field, def, hlp) \
    {.section = sec, .key = k, .kind = KIND_BOOL, .offset = offsetof(server_config, field), .default_value = def, .help = hlp}

static const char default_packages[] =
    "[{\"id\":\"starter\",\"credits\":100,\"price_cents\":99,\"currency\":\"USD\"},"
    "{\"id\":\"standard\",\"credits\":550,\"price_cents\":499,\"currency\":\"USD\"},"
    "{\"id\":\"plus\",\"credits\":1200,\"price_cents\":999,\"currency\":\"USD\"}]";

static const setting settings[] = {
    SC("general", "data_dir", data_dir, "./data", check_data_dir, "directory for the SQLite database and generated secrets"),
    SC("general", "log_level", log_level, "info", check_log_level, "error | warn | info | debug | trace (changeable at run time)"),
    B("general", "log_json", log_json, "false", "one JSON object per log line"),
    I("general", "loops", loops, "0", 0, 256, "media loop threads; 0 = one per core"),
    B("general", "loop_epoll", loop_epoll, "true", "media loops wait with epoll (false: GLib's poll(2), for comparison)"),
    I("general", "loop_batch_us", loop_batch_us, "500", 0, 5000, "under load a media loop wakes at most every this many us and handles what arrived together (0 = per packet)"),
    S("general", "web_root", web_root, "./web", "static files served at / (the demo page)"),
    I("general", "session_timeout", session_timeout, "60", 1, 86400, "seconds a Janus session lives without keepalive"),
    S("http", "bind", http_bind, "0.0.0.0", "address of the HTTP listener (Janus HTTP + REST + demo)"),
    I("http", "port", http_port, "8088", 1, 65535, "port of the HTTP listener"),
    I("http", "max_body", http_max_body, "1048576", 1024, 67108864, "largest request body in bytes"),
    I("http", "threads", http_threads, "4", 1, 64, "HTTP worker threads"),
    I("http", "max_connections_per_ip", http_max_connections_per_ip, "256", 1, 1000000, "open HTTP connections from one client address (IPv6: one /64); more are closed at once, counted and logged (raise it behind a reverse proxy or a large NAT)"),
    I("http", "request_timeout_s", http_request_timeout_s, "30", 1, 86400, "seconds an HTTP connection may stay silent (unfinished request, idle keep-alive) before it is closed; waiting long-polls are exempt"),
    S("ws", "bind", ws_bind, "0.0.0.0", "address of the Janus WebSocket listener"),
    I("ws", "port", ws_port, "8188", 1, 65535, "port of the Janus WebSocket listener"),
    I("ws", "max_message", ws_max_message, "1048576", 1024, 67108864, "largest WebSocket message in bytes"),
    I("ws", "max_connections_per_ip", ws_max_connections_per_ip, "64", 1, 1000000, "upgraded WebSocket connections from one client address; more are refused with 429"),
    I("ws", "max_messages_per_s", ws_max_messages_per_s, "200", 1, 1000000, "messages (text, ping, pong) per second per WebSocket connection, burst twice that; beyond it the socket is read more slowly, and several seconds far beyond it close the connection with 1008"),
    I("ws", "idle_timeout_s", ws_idle_timeout_s, "120", 1, 86400, "seconds an upgraded WebSocket connection may go without a complete message before it is closed (1001); sessions keep their own timeout"),
    I("ws", "handshake_timeout_s", ws_handshake_timeout_s, "10", 1, 3600, "seconds from the upgrade to the first complete message before the connection is closed (1001)"),
    I("ws", "max_buffered_total", ws_max_buffered_total, "67108864", 65536, 2147483647, "bytes all WebSocket connections may hold in unfinished (fragmented) messages; beyond it the one with the largest is closed (1008)"),
    S("admin", "bind", admin_bind, "127.0.0.1", "address of the admin API (keep it private)"),
    I("admin", "port", admin_port, "7088", 1, 65535, "port of the admin API"),
    S("admin", "allowed_hosts", admin_allowed_hosts, "localhost,127.0.0.1,[::1]", "comma-separated host names the admin API answers to in Host (any port), besides admin.bind; others get 421, and a POST/PUT/PATCH/DELETE whose Origin is not one of them gets 403"),
    I("limits", "sessions_per_user", limits_sessions_per_user, "16", 0, 1000000, "live Janus sessions one signed-in user may hold; over it create answers 472; 0 = no limit (not enforced with auth off)"),
    I("limits", "handles_per_session", limits_handles_per_session, "32", 0, 1000000, "live handles in one Janus session; over it attach answers 461; 0 = no limit"),
    I("limits", "peers_per_user", limits_peers_per_user, "12", 0, 1000000, "live PeerConnections of one user (of one session with auth off); over it the offer answers 490; 0 = no limit"),
    I("limits", "max_peers", limits_max_peers, "0", 0, 10000000, "live PeerConnections in the server; 0 = derived at start from the open-file limit and the size of media.rtp_port_range (logged)"),
    I("limits", "fd_reserve", limits_fd_reserve, "256", 0, 1000000, "descriptors kept free for HTTP, WebSocket and SQLite: a PeerConnection that would leave fewer is refused (490); 0 = no check"),
    SC("media", "bind_ips", media_bind_ips, "", check_ip_list, "comma-separated local IPs for ICE host candidates; empty = all interfaces"),
    B("media", "allow_loopback", media_allow_loopback, "true", "with bind_ips empty, also offer 127.0.0.1 / ::1 candidates"),
    B("media", "ipv6", media_ipv6, "true", "gather IPv6 candidates"),
    SC("media", "rtp_port_range", media_rtp_port_range, "20000-40000", check_port_range, "UDP port range for media, MIN-MAX"),
    SC("media", "stun_server", media_stun_server, "", check_host_port_or_empty, "host:port of a STUN server for server-reflexive candidates"),
    SC("media", "turn_server", media_turn_server, "", check_host_port_or_empty, "host:port of a TURN server for relay candidates"),
    S("media", "turn_user", media_turn_user, "", "TURN username"),
    SECRET("media", "turn_pwd", media_turn_pwd, "", "TURN password"),
    I("media", "slowlink_threshold", media_slowlink_threshold, "10", 0, 100000, "lost packets per second (either way) on one PeerConnection that trigger a slowlink event; 0 = never"),
    B("media", "ice_lite", media_ice_lite, "true", "answer ICE as an ICE-lite agent on one UDP socket per loop and local address, shared by all its PeerConnections (RFC 8445 2.5); false = full ICE, a libnice agent and socket per PeerConnection (needed for the server's own stun_server / turn_server candidates, which are ignored otherwise)"),
    B("media", "consent_freshness", media_consent_freshness, "false", "RFC 7675 consent checks on the selected pair (libnice 0.1.21 can drop live calls under packet loss with them)"),
    SC("media", "nat_1_1_ip", media_nat_1_1_ip, "", check_ip_or_empty, "public IP advertised instead of the host address (1:1 NAT, cloud VMs)"),
    S("media", "stun_uris", media_stun_uris, "", "comma-separated stun:/stuns: URIs handed to clients by GET /api/v1/ice-servers (stun_server is the server's own)"),
    S("media", "turn_uris", media_turn_uris, "", "comma-separated turn:/turns: URIs handed to clients with minted credentials (needs turn_secret)"),
    SECRET("media", "turn_secret", media_turn_secret, "", "shared secret for client TURN credentials (coturn static-auth-secret)"),
    I("media", "turn_ttl", media_turn_ttl, "86400", 60, 604800, "lifetime in seconds of the TURN credentials handed to clients"),
    B("auth", "required", auth_required, "true", "require a valid access JWT as the Janus 'token'"),
    SECRET("auth", "jwt_secret", auth_jwt_secret, "", "HS256 key for access tokens; empty = generated once and stored in the database"),
    I("auth", "access_ttl", auth_access_ttl, "900", 30, 86400, "access token lifetime in seconds"),
    I("auth", "refresh_ttl", auth_refresh_ttl, "2592000", 60, 31536000, "refresh token lifetime in seconds"),
    I("auth", "kdf_cost", auth_kdf_cost, "15", 10, 18, "scrypt cost as log2(N) for password hashes (18 = 256 MiB of memory per hash, the most api/password.c allows)"),
    I("auth", "rate_limit_per_min", auth_rate_limit_per_min, "20", 1, 100000, "register/login/refresh attempts per minute per client address (every account), and register/refresh per account"),
    I("auth", "login_pair_per_min", auth_login_pair_per_min, "5", 0, 100000, "wrong passwords per minute for one account from one client address; a right password does not count; 0 = no limit"),
    I("auth", "login_account_per_hour", auth_login_account_per_hour, "20", 0, 100000, "wrong passwords per hour for one account from addresses that never signed in to it (the owner's last 16 addresses are neither counted nor refused); 0 = no limit"),
    I("billing", "platform_fee_bps", billing_platform_fee_bps, "2000", 0, 10000, "platform share of every charge in basis points (2000 = 20%)"),
    SC("billing", "payment_provider", billing_payment_provider, "none", check_payment_provider, "none (POST /purchases answers 503) | dev (purchases complete at once WITHOUT payment: demos and tests only, never in production) | webhook (signed provider callback)"),
    SECRET("billing", "webhook_secret", billing_webhook_secret, "", "HMAC-SHA256 key of the payment webhook"),
    I("billing", "webhook_window", billing_webhook_window, "300", 1, 86400, "seconds a webhook timestamp stays valid"),
    S("billing", "credit_packages", billing_credit_packages, default_packages, "JSON array of {id, credits, price_cents, currency}"),
    I("billing", "minute_ms", billing_minute_ms, "60000", 1000, 3600000, "length of a billed minute in ms (tests and demos shorten it; low_balance_ms, the ticker and the media-outage threshold scale with it)"),
    I("billing", "low_balance_ms", billing_low_balance_ms, "30000", 0, 3600000, "warning lead before a minute the caller cannot pay (at minute_ms 60000)"),
    I("billing", "recovery_grace_s", billing_recovery_grace_s, "60", 1, 3600, "seconds calls live at a crash wait for their parties to resume before they are settled"),
    I("calls", "ring_timeout_s", calls_ring_timeout_s, "45", 3, 600, "seconds a call rings before it ends with no_answer"),
    I("calls", "reconnect_grace_s", calls_reconnect_grace_s, "20", 0, 600, "seconds a call waits for a leg whose PeerConnection failed before it ends with peer_gone"),
    I("chat", "rate_per_s", chat_rate_per_s, "5", 0, 100000, "messages per second one user may send, sustained (REST and data channel together); 0 = no limit"),
    I("chat", "burst", chat_burst, "30", 1, 100000, "messages one user may send at once before chat.rate_per_s applies"),
    I("chat", "device_requests_per_s", chat_device_requests_per_s, "100", 1, 100000, "requests of any kind one device may send over its data channel per second, sustained"),
    I("chat", "device_burst", chat_device_burst, "200", 1, 100000, "requests one device may send at once before chat.device_requests_per_s applies"),
    S("push", "fcm_service_account", push_fcm_service_account, "", "path of the Firebase service-account JSON file (FCM HTTP v1); empty = no FCM pushes (tokens are kept, nothing is sent)"),
    S("push", "fcm_endpoint", push_fcm_endpoint, "https://fcm.googleapis.com", "base URL of FCM HTTP v1 (tests point it at a local fake)"),
    S("push", "fcm_token_endpoint", push_fcm_token_endpoint, "https://oauth2.googleapis.com/token", "OAuth 2.0 token endpoint the signed assertion is exchanged at; empty = the service account's token_uri"),
    S("push", "ca_file", push_ca_file, "", "PEM file of extra CA certificates trusted for push requests, besides the system's (tests)"),
    B("push", "private_bodies", push_private_bodies, "false", "chat pushes carry the sender's name only, never the message text"),
    I("push", "queue_size", push_queue_size, "10000", 1, 10000000, "push notifications held at most (queued, waiting to retry, in flight); beyond it new ones are dropped and counted"),
    I("push", "max_in_flight", push_max_in_flight, "100", 1, 10000, "push requests in flight at once"),
    I("push", "request_timeout_ms", push_request_timeout_ms, "10000", 100, 600000, "time one push request may take, connection included, before it counts as failed (and is retried)"),
    I("push", "chat_ttl_s", push_chat_ttl_s, "86400", 1, 2419200, "how long a chat message push may wait at the provider for an offline device"),
    S("push", "vapid_subject", push_vapid_subject, "mailto:push@localhost", "contact (mailto: or https:) in every VAPID JWT, for Web Push services to reach the operator"),
    /* The default is store.h's STORE_GROUP_WINDOW_US (util/ does not include store/; test_config compares them). */
    I("store", "group_window_us", store_group_window_us, "2000", 0, 100000, "under load the storage thread starts a group of writes no sooner than this many us after the previous one began, so that writes arriving one by one share one COMMIT (its fsync); a store idle at the end of its last group commits at once; 0 = no window"),
};
#define SETTING_COUNT (sizeof settings / sizeof settings[0])

static void *field_ptr(server_config *cfg, const setting *s) { return (char *)cfg + s->offset; }
static const void *field_cptr(const server_config *cfg, const setting *s) { return (const char *)cfg + s->offset; }

static const setting *find_setting(const char *section, size_t seclen, const char *key)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (strlen(settings[i].section) == seclen && strncmp(settings[i].section, section, seclen) == 0 &&
            strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) { *out = true; return true; }
        if (strcasecmp(v, no[i]) == 0) { *out = false; return true; }
    }
    return false;
}

/* Remembers where s got its value (origin as config_source words it). */
static void set_source(server_config *cfg, const setting *s, const char *origin)
{
    size_t i = (size_t)(s - settings);
    char *copy = strdup(origin);
    if (!copy)
        return;   /* the message would say "default": wrong but harmless */
    free(cfg->sources[i]);
    cfg->sources[i] = copy;
}

/* Applies one value to its field; origin names the layer for the error message and is
 * remembered for later checks. */
static bool apply_value(server_config *cfg, const setting *s, const char *value, const char *origin,
                        char *err, size_t errcap)
{
    void *p = field_ptr(cfg, s);
    switch (s->kind) {
    case KIND_STR: {
        char **sp = p;
        free(*sp);
        *sp = strdup(value);
        break;
    }
    case KIND_INT: {
        errno = 0;
        char *end = NULL;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0' || v < s->min || v > s->max) {
            snprintf(err, errcap, "%s.%s (from %s): \"%s\" is not an integer in [%ld, %ld]", s->section,
                     s->key, origin, value, s->min, s->max);
            return false;
        }
        *(int *)p = (int)v;
        break;
    }
    case KIND_BOOL:
        if (!parse_bool(value, (bool *)p)) {
            snprintf(err, errcap, "%s.%s (from %s): \"%s\" is not a boolean (true/false)", s->section, s->key,
                     origin, value);
            return false;
        }
        break;
    }
    set_source(cfg, s, origin);
    return true;
}

/* Appends one line to cfg->warnings. */
static void add_warning(server_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(server_config *cfg, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t have = cfg->warnings ? strlen(cfg->warnings) : 0;
    char *w = realloc(cfg->warnings, have + strlen(line) + 2);
    if (!w)
        return;
    memcpy(w + have, line, strlen(line));
    w[have + strlen(line)] = '\n';
    w[have + strlen(line) + 1] = '\0';
    cfg->warnings = w;
}

/* ---- names, and the closest one to a misspelt name ---- */

typedef void (*name_fn)(const setting *s, char *out, size_t cap);

static void dotted_name(const setting *s, char *out, size_t cap) { snprintf(out, cap, "%s.%s", s->section, s->key); }

static void env_name(const setting *s, char *out, size_t cap)
{
    snprintf(out, cap, "PARLEY_%s_%s", s->section, s->key);
    for (char *c = out; *c; c++)
        *c = (char)toupper((unsigned char)*c);
}

/* The setting whose name (in the form name_of writes) is nearest to name by edit distance,
 * when near enough to be a slip (at most half of name's length); NULL otherwise. Ties go to
 * the first in the table. */
static const setting *closest_setting(const char *name, name_fn name_of)
{
    const setting *best = NULL;
    size_t best_d = strlen(name) / 2 + 1;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        char candidate[128];
        name_of(&settings[i], candidate, sizeof candidate);
        size_t d = config_edit_distance(name, candidate);
        if (d < best_d) {
            best_d = d;
            best = &settings[i];
        }
    }
    return best;
}

/* " (did you mean X?)" for the closest setting to name, or "" when none is close. */
static void suggestion(const char *name, name_fn name_of, char *out, size_t cap)
{
    const setting *s = closest_setting(name, name_of);
    out[0] = '\0';
    if (s) {
        char n[128];
        name_of(s, n, sizeof n);
        snprintf(out, cap, " (did you mean %s?)", n);
    }
}

/* The secret setting that "<key>_file" names in section, or NULL. */
static const setting *find_secret_file_setting(const char *section, size_t seclen, const char *key)
{
    size_t klen = strlen(key);
    char base[64];
    if (klen <= 5 || klen - 5 >= sizeof base || strcmp(key + klen - 5, "_file") != 0)
        return NULL;
    memcpy(base, key, klen - 5);
    base[klen - 5] = '\0';
    const setting *s = find_setting(section, seclen, base);
    return s && s->secret ? s : NULL;
}

#define SECRET_FILE_MAX 65536

/* Sets secret setting s from the file at path (one trailing newline stripped). origin names
 * the "<key>_file" form that gave the path. */
static bool apply_secret_file(server_config *cfg, const setting *s, const char *path, const char *origin,
                              char *err, size_t errcap)
{
    if (!path[0]) {
        snprintf(err, errcap, "%s.%s_file (from %s): empty path", s->section, s->key, origin);
        return false;
    }
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s.%s_file (from %s): %s: %s", s->section, s->key, origin, path,
                 f ? "not a regular file" : strerror(errno));
        if (f)
            fclose(f);
        return false;
    }
    char *buf = malloc(SECRET_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SECRET_FILE_MAX + 1, f) : 0;
    bool read_error = !buf || ferror(f);
    fclose(f);
    if (read_error || n > SECRET_FILE_MAX || memchr(buf, '\0', n)) {
        snprintf(err, errcap, "%s.%s_file (from %s): %s: %s", s->section, s->key, origin, path,
                 read_error ? "cannot read it" : n > SECRET_FILE_MAX ? "larger than 64 KiB" : "contains a NUL byte");
        free(buf);
        return false;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (st.st_mode & S_IROTH)
        add_warning(cfg, "%s.%s_file: %s is readable by every user (mode %04o): chmod 0600 it (or 0640 with "
                    "the server's group)", s->section, s->key, path, (unsigned)(st.st_mode & 07777));
    char **sp = field_ptr(cfg, s);
    free(*sp);
    *sp = buf;
    set_source(cfg, s, origin);
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* ---- the config file ---- */

/* Where load_file is: the file and line every message starts with. */
typedef struct file_pos {
    const char *path;
    int line;
    char section[64];
} file_pos;

/* "[section]": false (with err) when malformed. */
static bool file_section(file_pos *at, char *l, char *err, size_t errcap)
{
    char *close = strchr(l, ']');
    if (!close || (size_t)(close - l - 1) >= sizeof at->section) {
        snprintf(err, errcap, "file %s:%d: malformed section header", at->path, at->line);
        return false;
    }
    *close = '\0';
    snprintf(at->section, sizeof at->section, "%s", trim(l + 1));
    return true;
}

/* Removes the quotes around a value "like this". A value that opens a quote and does not
 * close it is an error: taking it literally would hide a line the operator broke. */
static bool file_unquote(const file_pos *at, const char *key, char **value, char *err, size_t errcap)
{
    char *v = *value;
    size_t vlen = strlen(v);
    if (v[0] != '"')
        return true;
    if (vlen < 2 || v[vlen - 1] != '"') {
        snprintf(err, errcap, "file %s:%d: unterminated quote in the value of %s.%s", at->path, at->line,
                 at->section, key);
        return false;
    }
    v[vlen - 1] = '\0';
    *value = v + 1;
    return true;
}

/* "key = value" in the current section. */
static bool file_setting(server_config *cfg, file_pos *at, char *l, char *err, size_t errcap)
{
    char *eq = strchr(l, '=');
    if (!eq) {
        snprintf(err, errcap, "file %s:%d: expected key = value", at->path, at->line);
        return false;
    }
    *eq = '\0';
    char *key = trim(l), *value = trim(eq + 1);
    if (!file_unquote(at, key, &value, err, errcap))
        return false;
    size_t seclen = strlen(at->section);
    const setting *s = find_setting(at->section, seclen, key);
    const setting *sf = s ? NULL : find_secret_file_setting(at->section, seclen, key);
    if (!s && !sf) {
        char name[160], hint[180];
        snprintf(name, sizeof name, "%s.%s", at->section, key);
        suggestion(name, dotted_name, hint, sizeof hint);
        snprintf(err, errcap, "file %s:%d: unknown setting %s%s", at->path, at->line, name, hint);
        return false;
    }
    char origin[600];
    snprintf(origin, sizeof origin, "file %s:%d", at->path, at->line);
    return s ? apply_value(cfg, s, value, origin, err, errcap) : apply_secret_file(cfg, sf, value, origin, err, errcap);
}

static bool load_file(server_config *cfg, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "config file %s: %s", path, strerror(errno));
        return false;
    }
    file_pos at = {.path = path, .section = "general"};
    char *line = NULL;
    size_t linecap = 0;
    bool ok = true;
    /* getline: a long value (a credit package list) must not be cut into two "lines" */
    while (ok && getline(&line, &linecap, f) >= 0) {
        at.line++;
        char *l = trim(line);
        if (*l == '\0' || *l == '#' || *l == ';')
            continue;
        ok = *l == '[' ? file_section(&at, l, err, errcap) : file_setting(cfg, &at, l, err, errcap);
    }
    free(line);
    fclose(f);
    return ok;
}

/* ---- the environment ---- */

/* PARLEY_* variables that are not settings and are not warned about: PARLEY_CONFIG (read
 * by config_load), and those the repository's test and benchmark scripts set for
 * themselves, which the servers they start inherit. */
static const char *const env_not_settings[] = {
    "PARLEY_CONFIG", "PARLEY_API_TRACE", "PARLEY_BIN", "PARLEY_ROOT", "PARLEY_TARGET",
    "PARLEY_TEST_TIMEOUT", "PARLEY_TEST_DEBUG", "PARLEY_NETNS", "PARLEY_NO_NETNS", "PARLEY_PORT_BASE",
    "PARLEY_RTP_BASE", "PARLEY_ARTIFACT_DIR", "PARLEY_OK", "PARLEY_BENCH_SESSION",
};

/* True when the variable name (len bytes) is a setting's, a secret's _FILE form, or listed
 * in env_not_settings. */
static bool env_name_known(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof env_not_settings / sizeof env_not_settings[0]; i++)
        if (strlen(env_not_settings[i]) == len && strncmp(env_not_settings[i], name, len) == 0)
            return true;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        char n[128];
        env_name(&settings[i], n, sizeof n);
        size_t nlen = strlen(n);
        if (nlen == len && strncmp(n, name, len) == 0)
            return true;
        if (settings[i].secret && nlen + 5 == len && strncmp(n, name, nlen) == 0 && strncmp(name + nlen, "_FILE", 5) == 0)
            return true;
    }
    return false;
}

/* A misspelt variable silently changes nothing: say so, with the likely intended name. */
static void warn_unknown_env(server_config *cfg, char **envp)
{
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "PARLEY_", 7) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (env_name_known(*e, len))
            continue;
        char name[128], hint[180];
        snprintf(name, sizeof name, "%.*s", (int)(len < 127 ? len : 127), *e);
        suggestion(name, env_name, hint, sizeof hint);
        add_warning(cfg, "environment variable %s names no setting%s", name,
                    hint[0] ? hint : " (parley --help lists them)");
    }
}

static bool load_env(server_config *cfg, char **envp, char *err, size_t errcap)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        char name[128], origin[160];
        env_name(&settings[i], name, sizeof name);
        size_t nlen = strlen(name);
        bool plain = false;
        snprintf(origin, sizeof origin, "env %s", name);
        for (char **e = envp; e && *e; e++) {
            if (strncmp(*e, name, nlen) == 0 && (*e)[nlen] == '=') {
                if (!apply_value(cfg, &settings[i], *e + nlen + 1, origin, err, errcap))
                    return false;
                plain = true;
            }
        }
        if (!settings[i].secret)
            continue;
        snprintf(origin, sizeof origin, "env %s_FILE", name);
        for (char **e = envp; e && *e; e++) {
            if (strncmp(*e, name, nlen) == 0 && strncmp(*e + nlen, "_FILE=", 6) == 0) {
                if (plain) {
                    snprintf(err, errcap, "both env %s and env %s_FILE are set: keep one", name, name);
                    return false;
                }
                if (!apply_secret_file(cfg, &settings[i], *e + nlen + 6, origin, err, errcap))
                    return false;
            }
        }
    }
    warn_unknown_env(cfg, envp);
    return true;
}

/* ---- command-line flags ---- */

/* "--section.key=value" or "--section.key value" (consumes the next argument). */
static bool apply_flag(server_config *cfg, const char *arg, const char *next, int *consumed, char *err,
                       size_t errcap)
{
    const char *name = arg + 2;
    const char *dot = strchr(name, '.');
    const char *eq = strchr(name, '=');
    if (!dot || (eq && eq < dot)) {
        snprintf(err, errcap, "unknown option %s (try --help)", arg);
        return false;
    }
    char key[64];
    size_t klen = eq ? (size_t)(eq - dot - 1) : strlen(dot + 1);
    if (klen >= sizeof key) {
        snprintf(err, errcap, "unknown option %s", arg);
        return false;
    }
    memcpy(key, dot + 1, klen);
    key[klen] = '\0';
    const setting *s = find_setting(name, (size_t)(dot - name), key);
    const setting *sf = s ? NULL : find_secret_file_setting(name, (size_t)(dot - name), key);
    char flag[160], hint[180];
    snprintf(flag, sizeof flag, "%.*s", (int)(eq ? eq - name : (long)strlen(name)), name);
    if (!s && !sf) {
        suggestion(flag, dotted_name, hint, sizeof hint);
        snprintf(err, errcap, "unknown setting %s%s (try --help)", flag, hint);
        return false;
    }
    const char *value = eq ? eq + 1 : next;
    if (!value) {
        snprintf(err, errcap, "%s needs a value", arg);
        return false;
    }
    *consumed = eq ? 0 : 1;
    char origin[180];
    snprintf(origin, sizeof origin, "flag --%s", flag);
    if (sf)
        return apply_secret_file(cfg, sf, value, origin, err, errcap);
    if (s->secret && value[0])
        add_warning(cfg, "%s.%s is given on the command line, where every local user can read it "
                    "(/proc/<pid>/cmdline, ps): use --%s.%s_file=FILE or the environment (PARLEY_..._FILE)",
                    s->section, s->key, s->section, s->key);
    return apply_value(cfg, s, value, origin, err, errcap);
}

/* ---- checks once every layer is in ---- */

static const char *source_of(const server_config *cfg, const setting *s)
{
    const char *src = cfg->sources ? cfg->sources[s - settings] : NULL;
    return src ? src : "default";
}

/* Runs check on s's value as text; err in the one form of config.h. */
static bool check_one_setting(const server_config *cfg, const setting *s, config_value_check check, char *err,
                              size_t errcap)
{
    char text[32], why[768] = "";
    const void *p = field_cptr(cfg, s);
    const char *value = text;
    if (s->kind == KIND_STR)
        value = *(char *const *)p ? *(char *const *)p : "";
    else if (s->kind == KIND_INT)
        snprintf(text, sizeof text, "%d", *(const int *)p);
    else
        snprintf(text, sizeof text, "%s", *(const bool *)p ? "true" : "false");
    if (check(value, why, sizeof why))
        return true;
    snprintf(err, errcap, "%s.%s (from %s): %s", s->section, s->key, source_of(cfg, s), why);
    return false;
}

static const setting *setting_named(const char *name)
{
    const char *dot = name ? strchr(name, '.') : NULL;
    return dot ? find_setting(name, (size_t)(dot - name), dot + 1) : NULL;
}

/* Settings that only make sense together: the message names the one that asks for the
 * other, and where it was set. */
static bool check_pairs(const server_config *cfg, char *err, size_t errcap)
{
    if (strcmp(cfg->billing_payment_provider, "webhook") == 0 && cfg->billing_webhook_secret[0] == '\0') {
        snprintf(err, errcap, "billing.payment_provider (from %s): webhook needs billing.webhook_secret "
                 "(or billing.webhook_secret_file)", source_of(cfg, setting_named("billing.payment_provider")));
        return false;
    }
    if (cfg->media_turn_uris[strspn(cfg->media_turn_uris, " \t")] && !cfg->media_turn_secret[0]) {
        snprintf(err, errcap, "media.turn_uris (from %s): needs media.turn_secret (or media.turn_secret_file)",
                 source_of(cfg, setting_named("media.turn_uris")));
        return false;
    }
    return true;
}

/* Not an error (the API works without it), but a first run from the wrong directory shows a
 * 404 where the web app should be: say why at start. */
static void warn_web_root(server_config *cfg)
{
    struct stat st;
    if (stat(cfg->web_root, &st) != 0 || !S_ISDIR(st.st_mode))
        add_warning(cfg, "general.web_root (from %s): %s is not a directory: the web app at / will answer 404 "
                    "(start parley from the source tree or set general.web_root)",
                    source_of(cfg, setting_named("general.web_root")), cfg->web_root);
}

static bool validate(server_config *cfg, char *err, size_t errcap)
{
    if (cfg->billing_payment_provider[0] == '\0') {
        free(cfg->billing_payment_provider);
        cfg->billing_payment_provider = strdup("none");
    }
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (settings[i].check && !check_one_setting(cfg, &settings[i], settings[i].check, err, errcap))
            return false;
    if (!check_pairs(cfg, err, errcap))
        return false;
    config_parse_port_range(cfg->media_rtp_port_range, &cfg->media_rtp_port_min, &cfg->media_rtp_port_max);
    warn_web_root(cfg);
    return true;
}

config_action config_load(server_config *cfg, int argc, char **argv, char **envp, char *err, size_t errcap)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->warnings = strdup("");
    cfg->sources = calloc(SETTING_COUNT, sizeof *cfg->sources);
    if (!cfg->warnings || !cfg->sources) {
        snprintf(err, errcap, "out of memory");
        return CONFIG_ERROR;
    }
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (!apply_value(cfg, &settings[i], settings[i].default_value, "default", err, errcap))
            return CONFIG_ERROR;

    const char *config_path = NULL;
    config_action action = CONFIG_RUN;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CONFIG_HELP;
        if (strcmp(argv[i], "--version") == 0)
            return CONFIG_VERSION;
        if (strcmp(argv[i], "--check-config") == 0)
            action = CONFIG_CHECK;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config_path = argv[i] + 9;
    }
    if (!config_path) {
        for (char **e = envp; e && *e; e++)
            if (strncmp(*e, "PARLEY_CONFIG=", 14) == 0)
                config_path = *e + 14;
    }
    if (config_path && !load_file(cfg, config_path, err, errcap))
        return CONFIG_ERROR;
    if (!load_env(cfg, envp, err, errcap))
        return CONFIG_ERROR;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0 || strncmp(argv[i], "--config=", 9) == 0)
            continue;
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            snprintf(err, errcap, "unexpected argument %s (try --help)", argv[i]);
            return CONFIG_ERROR;
        }
        int consumed = 0;
        if (!apply_flag(cfg, argv[i], i + 1 < argc ? argv[i + 1] : NULL, &consumed, err, errcap))
            return CONFIG_ERROR;
        i += consumed;
    }
    if (!validate(cfg, err, errcap))
        return CONFIG_ERROR;
    return action;
}

const char *config_source(const server_config *cfg, const char *name)
{
    const setting *s = setting_named(name);
    return s ? source_of(cfg, s) : "default";
}

bool config_check_setting(const server_config *cfg, const char *name, config_value_check check, char *err,
                          size_t errcap)
{
    const setting *s = setting_named(name);
    if (!s) {
        snprintf(err, errcap, "%s: no such setting", name ? name : "(null)");
        return false;
    }
    return check_one_setting(cfg, s, check, err, errcap);
}

void config_web_url(const server_config *cfg, char *out, size_t cap)
{
    const char *b = cfg->http_bind ? cfg->http_bind : "";
    bool any = !b[0] || strcmp(b, "0.0.0.0") == 0 || strcmp(b, "::") == 0;
    if (any)
        snprintf(out, cap, "http://127.0.0.1:%d/", cfg->http_port);
    else if (strchr(b, ':'))
        snprintf(out, cap, "http://[%s]:%d/", b, cfg->http_port);
    else
        snprintf(out, cap, "http://%s:%d/", b, cfg->http_port);
}

void config_free(server_config *cfg)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        if (settings[i].kind == KIND_STR) {
            char **sp = field_ptr(cfg, &settings[i]);
            free(*sp);
            *sp = NULL;
        }
        if (cfg->sources)
            free(cfg->sources[i]);
    }
    free(cfg->sources);
    cfg->sources = NULL;
    free(cfg->warnings);
    cfg->warnings = NULL;
}

void config_dump(const server_config *cfg, char *out, size_t cap)
{
    size_t n = 0;
    const char *section = "";
    out[0] = '\0';
    for (size_t i = 0; i < SETTING_COUNT && n < cap; i++) {
        const setting *s = &settings[i];
        if (strcmp(section, s->section) != 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s[%s]\n", n ? "\n" : "", s->section);
            section = s->section;
        }
        if (n >= cap)
            break;
        const void *p = field_cptr(cfg, s);
        switch (s->kind) {
        case KIND_STR: {
            const char *v = *(char *const *)p;
            if (s->secret && v && v[0])
                v = "********";
            n += (size_t)snprintf(out + n, cap - n, "%s = \"%s\"\n", s->key, v ? v : "");
            break;
        }
        case KIND_INT:
            n += (size_t)snprintf(out + n, cap - n, "%s = %d\n", s->key, *(const int *)p);
            break;
        case KIND_BOOL:
            n += (size_t)snprintf(out + n, cap - n, "%s = %s\n", s->key, *(const bool *)p ? "true" : "false");
            break;
        }
    }
}

void config_print_help(const char *argv0)
{
    printf("usage: %s [--config FILE] [--section.key=value ...] [--check-config] [--help] [--version]\n\n"
           "Every setting comes from (later wins): defaults, the config file, the environment\n"
           "variable PARLEY_<SECTION>_<KEY>, the flag --section.key=value.\n"
           "A secret setting can also be read from a file (one trailing newline stripped):\n"
           "<key>_file = PATH in the file, PARLEY_<SECTION>_<KEY>_FILE, --section.key_file=PATH;\n"
           "prefer that (or the environment) to a flag, which every local user can read.\n\n",
           argv0);
    const char *section = "";
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting *s = &settings[i];
        if (strcmp(section, s->section) != 0) {
            printf("[%s]\n", s->section);
            section = s->section;
        }
        const char *def = s->default_value;
        printf("  --%s.%s  (default: %s)\n      %s\n", s->section, s->key,
               strlen(def) > 40 ? "see conf/parley.conf" : (def[0] ? def : "\"\""), s->help);
        if (s->secret)
            printf("      (or from a file: --%s.%s_file=PATH)\n", s->section, s->key);
    }
}

char *config_section_json(const server_config *cfg, const char *section)
{
    json_t *o = json_object();
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting *s = &settings[i];
        if (strcmp(s->section, section) != 0 || s->secret)   /* a plugin has no use for secrets */
            continue;
        const void *p = field_cptr(cfg, s);
        json_t *v = s->kind == KIND_STR    ? json_string(*(char *const *)p ? *(char *const *)p : "")
                    : s->kind == KIND_INT ? json_integer(*(const int *)p)
                                          : json_boolean(*(const bool *)p);
        json_object_set_new(o, s->key, v);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}
