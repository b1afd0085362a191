/*
 * Calls: what the calls plugin records (platform_call_record: every op, duplicates, refusals
 * that write nothing, the history of kinds), what it reads about users (platform_user_info),
 * and GET /api/v1/calls[/{id}] as a client sees it: the real platform behind the real HTTP
 * server on 127.0.0.1 (routing, Bearer auth, query parsing, paging, who may see a call),
 * driven by a small blocking HTTP/1.1 client written here. Real SQLite file in a temp dir.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"
#include "check.h"
#include "transport/http.h"
#include "util/log.h"

#define UUID_A "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_B "1b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
#define UUID_UNKNOWN "ffffffff-1c3d-4e5f-8a9b-0c1d2e3f4a5b"

static platform_t *plat;
static uint16_t port;

/* ---- direct handler calls (register, login, profile) ---- */

static int run(api_handler fn, const char *body, const api_auth *auth, json_t **out)
{
    http_request http = {.method = "POST", .path = "/", .body = body ? body : "",
                         .body_len = body ? strlen(body) : 0, .remote_ip = "127.0.0.1"};
    api_req rq = {.p = plat, .http = &http};
    if (auth)
        rq.auth = *auth;
    api_resp rs = {0};
    int rc = fn(&rq, &rs);
    *out = rs.body;
    return rc == 0 ? rs.status : rs.err.status;
}

typedef struct user {
    uint64_t id;
    api_auth auth;
    char token[1024];
} user;

static void make_user(user *u, const char *email, const char *role, const char *name)
{
    char body[300];
    json_t *o;
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"pass word 1\",\"role\":"
             "\"%s\",\"display_name\":\"%s\"}", email, role, name);
    CHECK_INT(run(auth_register, body, NULL, &o), 201);
    u->id = (uint64_t)json_integer_value(json_object_get(json_object_get(o, "user"), "id"));
    json_decref(o);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"pass word 1\","
             "\"device_id\":\"dev\"}", email);
    CHECK_INT(run(auth_login, body, NULL, &o), 200);
    const char *t = json_string_value(json_object_get(o, "access_token"));
    snprintf(u->token, sizeof(u->token), "%s", t ? t : "");
    json_decref(o);
    u->auth.user_id = u->id;
    snprintf(u->auth.role, sizeof(u->auth.role), "%s", role);
}

/* ---- SQL peeks ---- */

typedef struct peek {
    const char *sql, *arg;
    int64_t v;
    char text[64];
    bool null;
} peek;

static int peek_run(sqlite3 *db, void *arg)
{
    peek *k = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, k->sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (k->arg)
        sqlite3_bind_text(st, 1, k->arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        k->null = sqlite3_column_type(st, 0) == SQLITE_NULL;
        k->v = sqlite3_column_int64(st, 0);
        api_sql_text(st, 0, k->text, sizeof(k->text));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int64_t sql_int(const char *sql, const char *arg)
{
    peek k = {.sql = sql, .arg = arg};
    CHECK_INT(store_read(plat->store, peek_run, &k), 0);
    return k.v;
}

static const char *sql_text(const char *sql, const char *arg)
{
    static peek k;
    memset(&k, 0, sizeof(k));
    k.sql = sql;
    k.arg = arg;
    CHECK_INT(store_read(plat->store, peek_run, &k), 0);
    return k.null ? NULL : k.text;
}

static bool sql_null(const char *sql, const char *arg)
{
    peek k = {.sql = sql, .arg = arg};
    CHECK_INT(store_read(plat->store, peek_run, &k), 0);
    return k.null;
}

static int64_t rows(void)
{
    return sql_int("SELECT (SELECT count(*) FROM calls) * 1000 + "
                   "(SELECT count(*) FROM call_kind_changes)", NULL);
}

static int record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int record(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return platform_call_record(plat, buf);
}

/* A write unit running one statement: what the database itself allows. */
static int exec_unit(sqlite3 *db, void *arg)
{
    return store_exec(db, arg) == SQLITE_OK ? 0 : 1;
}

static int sql_write(const char *sql)
{
    return store_write(plat->store, exec_unit, (void *)sql);
}

/* ---- a minimal HTTP client ---- */

static void http_handler(void *arg, const http_request *req, http_reply *reply)
{
    platform_handle_http(arg, req, reply);
}

static http_server *start_server(void)
{
    http_server_config cfg = {.bind_ip = "127.0.0.1", .max_body = 65536, .threads = 2,
                              .name = "test"};
    for (int i = 0; i < 50; i++) {
        port = (uint16_t)(30000 + (getpid() * 13 + i * 149 + 7) % 20000);
        cfg.port = port;
        http_server *srv = http_server_start(&cfg, http_handler, plat);
        if (srv)
            return srv;
    }
    return NULL;
}

/* GET (or method) target with an optional Bearer token; the status, and the body parsed. */
static int req(const char *method, const char *target, const char *token, json_t **out)
{
    *out = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char head[2048], auth[1100] = "";
    if (token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n%sContent-Length: 0\r\n\r\n", method, target, auth);
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    static char raw[262144];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof(raw) - 1 && (got = recv(fd, raw + len, sizeof(raw) - 1 - len, 0)) > 0)
        len += (size_t)got;
    close(fd);
    raw[len] = '\0';
    int status = -1;
    char *body = strstr(raw, "\r\n\r\n");
    if (!body || sscanf(raw, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    *out = json_loads(body + 4, 0, NULL);
    return status;
}

static const char *err_code(json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "error"), "code"));
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* RFC 3339 UTC with milliseconds, as every endpoint returns. */
static bool is_time(json_t *v)
{
    const char *s = json_string_value(v);
    int y, mo, d, h, mi, se, ms;
    char z;
    return s && strlen(s) == 24 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h,
                                          &mi, &se, &ms, &z) == 8 && z == 'Z';
}

/* ---- cases ---- */

static void test_user_info(const user *caller, const user *host)
{
    json_t *o;
    CHECK_INT(run(users_patch_me, "{\"audio_rate\":7,\"video_rate\":12,\"message_rate\":2,"
                  "\"do_not_disturb\":true,\"avatar_url\":\"https://x.io/a.png\"}",
                  &host->auth, &o), 200);
    json_decref(o);

    char *txt = platform_user_info(plat, caller->id);
    CHECK(txt != NULL);
    o = txt ? json_loads(txt, 0, NULL) : NULL;
    CHECK(json_is_object(o));
    CHECK_INT(json_integer_value(json_object_get(o, "id")), caller->id);
    CHECK_STR(jstr(o, "role"), "caller");
    CHECK_STR(jstr(o, "display_name"), "Carol");
    CHECK(json_is_null(json_object_get(o, "avatar_url")));
    CHECK(json_is_false(json_object_get(o, "do_not_disturb")));
    CHECK(json_is_integer(json_object_get(o, "audio_rate")));
    CHECK_INT(json_integer_value(json_object_get(o, "audio_rate")), 0);
    CHECK_INT(json_integer_value(json_object_get(o, "video_rate")), 0);
    CHECK_INT(json_integer_value(json_object_get(o, "message_rate")), 0);
    CHECK(json_is_false(json_object_get(o, "online")));
    CHECK(json_is_false(json_object_get(o, "busy")));
    CHECK_INT(json_object_size(o), 10);
    json_decref(o);
    free(txt);

    platform_presence_session_opened(plat, host->id);
    txt = platform_user_info(plat, host->id);
    o = txt ? json_loads(txt, 0, NULL) : NULL;
    CHECK_STR(jstr(o, "role"), "host");
    CHECK_STR(jstr(o, "display_name"), "Hana");
    CHECK_STR(jstr(o, "avatar_url"), "https://x.io/a.png");
    CHECK(json_is_true(json_object_get(o, "do_not_disturb")));
    CHECK_INT(json_integer_value(json_object_get(o, "audio_rate")), 7);
    CHECK_INT(json_integer_value(json_object_get(o, "video_rate")), 12);
    CHECK_INT(json_integer_value(json_object_get(o, "message_rate")), 2);
    CHECK(json_is_true(json_object_get(o, "online")));
    CHECK(json_is_false(json_object_get(o, "busy")));
    json_decref(o);
    free(txt);
    platform_presence_set_busy(plat, host->id, true);
    txt = platform_user_info(plat, host->id);
    o = txt ? json_loads(txt, 0, NULL) : NULL;
    CHECK(json_is_true(json_object_get(o, "online")));
    CHECK(json_is_true(json_object_get(o, "busy")));
    json_decref(o);
    free(txt);
    platform_presence_set_busy(plat, host->id, false);
    platform_presence_session_closed(plat, host->id);

    CHECK(platform_user_info(plat, 999999) == NULL);
    CHECK(platform_user_info(plat, 0) == NULL);
    CHECK(platform_user_info(plat, UINT64_MAX) == NULL);
    CHECK(platform_user_info(NULL, caller->id) == NULL);
}

static void test_refusals(const user *caller, const user *host)
{
    uint64_t c = caller->id, h = host->id;
    const char *bad[] = {"", "{", "[]", "null", "\"create\"", "{\"op\":\"create\"}",
                         "{\"op\":\"fly\",\"call_id\":\"" UUID_A "\"}", "{\"op\":5}",
                         "{\"op\":\"end\",\"op\":\"end\",\"call_id\":\"" UUID_A "\","
                         "\"reason\":\"hangup\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        CHECK_INT(platform_call_record(plat, bad[i]), -1);
    CHECK_INT(platform_call_record(plat, NULL), -1);
    CHECK_INT(platform_call_record(NULL, "{}"), -1);
    /* bad UUIDs */
    const char *ids[] = {"", "x", "0b8e2f6a1c3d4e5f8a9b0c1d2e3f4a5b",
                         "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5", "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5bb",
                         "0b8e2f6g-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "0b8e2f6a-1c3d-4e5f-8a9b0-c1d2e3f4a5b",
                         "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5 ", "'; DROP TABLE calls;--"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++)
        CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"%s\",\"caller_id\":%llu,"
                         "\"host_id\":%llu,\"kind\":\"audio\"}", ids[i],
                         (unsigned long long)c, (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":5,\"caller_id\":%llu,\"host_id\":%llu,"
                     "\"kind\":\"audio\"}", (unsigned long long)c, (unsigned long long)h), -1);
    /* unknown or equal users, bad kind, unknown or missing fields, wrong types */
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":424242,\"kind\":\"audio\"}", (unsigned long long)c), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":424242,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)h,
                     (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":0,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"screen\"}", (unsigned long long)c,
                     (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu}", (unsigned long long)c, (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"audio\",\"extra\":1}", (unsigned long long)c,
                     (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":\"%llu\","
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)c,
                     (unsigned long long)h), -1);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu.0,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)c,
                     (unsigned long long)h), -1);
    /* every other op on an unknown call */
    CHECK_INT(record("{\"op\":\"ring\",\"call_id\":\"" UUID_A "\",\"devices\":1}"), -1);
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"" UUID_A "\",\"session_id\":1,"
                     "\"handle_id\":2}"), -1);
    CHECK_INT(record("{\"op\":\"kind\",\"call_id\":\"" UUID_A "\",\"kind\":\"video\"}"), -1);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":\"hangup\"}"), -1);
    CHECK_INT(rows(), 0);   /* nothing of the above was written */
}

static void test_life(const user *caller, const user *host)
{
    uint64_t c = caller->id, h = host->id;
    int64_t t0 = store_now_ms();
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)c,
                     (unsigned long long)h), 0);
    int64_t t1 = store_now_ms();
    CHECK_INT(rows(), 1001);
    const char *q_state = "SELECT state FROM calls WHERE call_id = ?1";
    CHECK_STR(sql_text(q_state, UUID_A), "ringing");
    int64_t created = sql_int("SELECT created_at FROM calls WHERE call_id = ?1", UUID_A);
    CHECK(created >= t0 && created <= t1);   /* server time, ms */
    CHECK(sql_null("SELECT devices_rung FROM calls WHERE call_id = ?1", UUID_A));
    /* the same create again changes nothing; the same id with other parties is refused */
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)c,
                     (unsigned long long)h), 0);
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_A "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"audio\"}", (unsigned long long)h,
                     (unsigned long long)c), -1);
    CHECK_INT(rows(), 1001);

    CHECK_INT(record("{\"op\":\"ring\",\"call_id\":\"" UUID_A "\",\"devices\":2}"), 0);
    CHECK_INT(sql_int("SELECT devices_rung FROM calls WHERE call_id = ?1", UUID_A), 2);
    CHECK_INT(record("{\"op\":\"ring\",\"call_id\":\"" UUID_A "\",\"devices\":-1}"), -1);
    CHECK_INT(record("{\"op\":\"ring\",\"call_id\":\"" UUID_A "\"}"), -1);
    CHECK_STR(sql_text(q_state, UUID_A), "ringing");

    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"" UUID_A "\",\"session_id\":0,"
                     "\"handle_id\":2}"), -1);
    /* upper-case hex is the same call */
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"0B8E2F6A-1C3D-4E5F-8A9B-0C1D2E3F4A5B\","
                     "\"session_id\":9007199254740991,\"handle_id\":77,\"device_id\":\"phone-1\"}"),
              0);
    CHECK_STR(sql_text(q_state, UUID_A), "active");
    CHECK_INT(sql_int("SELECT answer_session_id FROM calls WHERE call_id = ?1", UUID_A),
              9007199254740991LL);
    CHECK_INT(sql_int("SELECT answer_handle_id FROM calls WHERE call_id = ?1", UUID_A), 77);
    CHECK_STR(sql_text("SELECT answer_device_id FROM calls WHERE call_id = ?1", UUID_A),
              "phone-1");
    int64_t accepted = sql_int("SELECT accepted_at FROM calls WHERE call_id = ?1", UUID_A);
    CHECK(accepted >= created);
    /* the same device again: fine; another device: refused */
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"" UUID_A "\",\"session_id\":"
                     "9007199254740991,\"handle_id\":77}"), 0);
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"" UUID_A "\",\"session_id\":5,"
                     "\"handle_id\":6}"), -1);
    CHECK_INT(sql_int("SELECT accepted_at FROM calls WHERE call_id = ?1", UUID_A), accepted);

    /* kinds: audio (create) -> video -> (video again: nothing) -> audio */
    CHECK_INT(record("{\"op\":\"kind\",\"call_id\":\"" UUID_A "\",\"kind\":\"video\"}"), 0);
    CHECK_STR(sql_text("SELECT kind FROM calls WHERE call_id = ?1", UUID_A), "video");
    CHECK_INT(record("{\"op\":\"kind\",\"call_id\":\"" UUID_A "\",\"kind\":\"video\"}"), 0);
    CHECK_INT(record("{\"op\":\"kind\",\"call_id\":\"" UUID_A "\",\"kind\":\"audio\"}"), 0);
    CHECK_INT(record("{\"op\":\"kind\",\"call_id\":\"" UUID_A "\",\"kind\":\"both\"}"), -1);
    CHECK_STR(sql_text("SELECT kind FROM calls WHERE call_id = ?1", UUID_A), "audio");
    CHECK_STR(sql_text("SELECT group_concat(kind, ',') FROM (SELECT kind FROM "
                       "call_kind_changes WHERE call_id = ?1 ORDER BY id)", UUID_A),
              "audio,video,audio");
    CHECK_INT(sql_int("SELECT at FROM call_kind_changes WHERE call_id = ?1 ORDER BY id LIMIT 1",
                      UUID_A), created);
    CHECK_INT(sql_int("SELECT count(*) FROM call_kind_changes a JOIN call_kind_changes b ON "
                      "a.call_id = b.call_id AND b.id > a.id AND b.at < a.at WHERE a.call_id = ?1",
                      UUID_A), 0);   /* times never go back */

    /* end: bad reasons refused; the first end stays; later ends change nothing */
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":\"Hangup\"}"), -1);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":\"\"}"), -1);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":"
                     "\"abcdefghijklmnopqrstuvwxyz_abcdef\"}"), -1);   /* 33 */
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":"
                     "\"answered_elsewhere\"}"), -1);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\"}"), -1);
    CHECK_STR(sql_text(q_state, UUID_A), "active");
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":\"hangup\"}"), 0);
    CHECK_STR(sql_text(q_state, UUID_A), "ended");
    int64_t ended = sql_int("SELECT ended_at FROM calls WHERE call_id = ?1", UUID_A);
    CHECK(ended >= accepted);
    CHECK_INT(sql_int("SELECT duration_ms FROM calls WHERE call_id = ?1", UUID_A),
              ended - accepted);
    usleep(5000);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":\"peer_gone\"}"), 0);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_A "\",\"reason\":\"hangup\"}"), 0);
    CHECK_STR(sql_text("SELECT end_reason FROM calls WHERE call_id = ?1", UUID_A), "hangup");
    CHECK_INT(sql_int("SELECT ended_at FROM calls WHERE call_id = ?1", UUID_A), ended);
    /* nothing but end after the end */
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"" UUID_A "\",\"session_id\":"
                     "9007199254740991,\"handle_id\":77}"), -1);
    CHECK_INT(record("{\"op\":\"kind\",\"call_id\":\"" UUID_A "\",\"kind\":\"video\"}"), -1);
    CHECK_INT(record("{\"op\":\"ring\",\"call_id\":\"" UUID_A "\",\"devices\":3}"), -1);
    CHECK_STR(sql_text("SELECT kind FROM calls WHERE call_id = ?1", UUID_A), "audio");
    CHECK_INT(rows(), 1003);

    /* a call never answered: no accepted_at, duration 0 */
    CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"" UUID_B "\",\"caller_id\":%llu,"
                     "\"host_id\":%llu,\"kind\":\"video\"}", (unsigned long long)c,
                     (unsigned long long)h), 0);
    CHECK_INT(record("{\"op\":\"ring\",\"call_id\":\"" UUID_B "\",\"devices\":0}"), 0);
    CHECK_INT(record("{\"op\":\"end\",\"call_id\":\"" UUID_B "\",\"reason\":\"no_answer\"}"), 0);
    CHECK(sql_null("SELECT accepted_at FROM calls WHERE call_id = ?1", UUID_B));
    CHECK_INT(sql_int("SELECT duration_ms FROM calls WHERE call_id = ?1", UUID_B), 0);
    CHECK_STR(sql_text("SELECT end_reason FROM calls WHERE call_id = ?1", UUID_B), "no_answer");
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"" UUID_B "\",\"session_id\":1,"
                     "\"handle_id\":2}"), -1);
    CHECK_INT(rows(), 2004);

    /* the database refuses on its own what the C code never does */
    CHECK_INT(sql_write("UPDATE calls SET end_reason = 'x' WHERE call_id = '" UUID_A "'"), 1);
    CHECK_INT(sql_write("UPDATE calls SET caller_id = host_id WHERE state <> 'ended'"), 0);
    CHECK_INT(sql_write("DELETE FROM calls"), 1);
    CHECK_INT(sql_write("DELETE FROM call_kind_changes"), 1);
    CHECK_INT(sql_write("UPDATE call_kind_changes SET at = 0"), 1);
    CHECK_INT(sql_write("INSERT INTO calls(call_id, caller_id, host_id, kind, state, created_at) "
                        "VALUES ('2b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4aZZ', 1, 2, 'audio', "
                        "'ringing', 1)"), 1);
    CHECK_INT(sql_write("INSERT INTO calls(call_id, caller_id, host_id, kind, state, created_at) "
                        "VALUES ('2b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a-0', 1, 2, 'audio', "
                        "'ringing', 1)"), 1);
    CHECK_INT(sql_write("INSERT INTO calls(call_id, caller_id, host_id, kind, state, created_at) "
                        "VALUES ('2b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4aaa', 1, 2, 'audio', "
                        "'ended', 1)"), 1);
    CHECK_INT(sql_write("INSERT INTO calls(call_id, caller_id, host_id, kind, state, created_at) "
                        "VALUES ('2b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4aaa', 1, 424242, 'audio', "
                        "'ringing', 1)"), 1);
    CHECK_INT(rows(), 2004);
}

/* Checks one item of GET /calls against what the test recorded. */
static void check_item(json_t *it, const char *id, const user *caller, const user *host,
                       const char *role)
{
    CHECK_STR(jstr(it, "id"), id);
    CHECK_STR(jstr(it, "role"), role);
    json_t *cl = json_object_get(it, "caller"), *hs = json_object_get(it, "host");
    CHECK_INT(json_integer_value(json_object_get(cl, "id")), caller->id);
    CHECK_INT(json_integer_value(json_object_get(hs, "id")), host->id);
    CHECK(jstr(cl, "display_name") != NULL && jstr(hs, "display_name") != NULL);
    CHECK(is_time(json_object_get(it, "created_at")));
    CHECK(json_is_array(json_object_get(it, "kinds")));
    /* the billing figures of a call never metered: zeros, no locked rates, nothing to settle */
    CHECK_INT(json_integer_value(json_object_get(it, "charged")), 0);
    CHECK_INT(json_integer_value(json_object_get(it, "minutes_charged")), 0);
    CHECK(json_is_null(json_object_get(it, "audio_rate")));
    CHECK(json_is_true(json_object_get(it, "billing_settled")));
    CHECK_INT(json_object_size(it), 20);
}

static void test_rest(const user *caller, const user *host, const user *third)
{
    json_t *o;
    /* the call of test_life as its two parties see it */
    CHECK_INT(req("GET", "/api/v1/calls/" UUID_A, caller->token, &o), 200);
    json_t *it = json_object_get(o, "call");
    check_item(it, UUID_A, caller, host, "caller");
    CHECK_STR(jstr(json_object_get(it, "caller"), "display_name"), "Carol");
    CHECK_STR(jstr(json_object_get(it, "host"), "display_name"), "Hana");
    CHECK_STR(jstr(it, "state"), "ended");
    CHECK_STR(jstr(it, "kind"), "audio");
    CHECK_STR(jstr(it, "end_reason"), "hangup");
    CHECK(is_time(json_object_get(it, "accepted_at")));
    CHECK(is_time(json_object_get(it, "ended_at")));
    CHECK_INT(json_integer_value(json_object_get(it, "duration_ms")),
              sql_int("SELECT duration_ms FROM calls WHERE call_id = ?1", UUID_A));
    json_t *kinds = json_object_get(it, "kinds");
    CHECK_INT(json_array_size(kinds), 3);
    CHECK_STR(jstr(json_array_get(kinds, 0), "kind"), "audio");
    CHECK_STR(jstr(json_array_get(kinds, 1), "kind"), "video");
    CHECK_STR(jstr(json_array_get(kinds, 2), "kind"), "audio");
    CHECK(is_time(json_object_get(json_array_get(kinds, 0), "at")));
    CHECK_STR(jstr(json_array_get(kinds, 0), "at"), jstr(it, "created_at"));
    json_decref(o);
    CHECK_INT(req("GET", "/api/v1/calls/0B8E2F6A-1C3D-4E5F-8A9B-0C1D2E3F4A5B", host->token, &o),
              200);
    it = json_object_get(o, "call");
    check_item(it, UUID_A, caller, host, "host");
    json_decref(o);
    CHECK_INT(req("GET", "/api/v1/calls/" UUID_B, host->token, &o), 200);
    it = json_object_get(o, "call");
    check_item(it, UUID_B, caller, host, "host");
    CHECK(json_is_null(json_object_get(it, "accepted_at")));
    CHECK_INT(json_integer_value(json_object_get(it, "duration_ms")), 0);
    CHECK_STR(jstr(it, "end_reason"), "no_answer");
    CHECK_STR(jstr(it, "kind"), "video");
    json_decref(o);

    /* anyone else, unknown and malformed ids: the same 404 */
    const char *hidden[] = {"/api/v1/calls/" UUID_A, "/api/v1/calls/" UUID_UNKNOWN,
                            "/api/v1/calls/not-a-uuid", "/api/v1/calls/1"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(*hidden); i++) {
        CHECK_INT(req("GET", hidden[i], i == 0 ? third->token : caller->token, &o), 404);
        CHECK_STR(err_code(o), "not_found");
        json_decref(o);
    }
    /* auth and method */
    CHECK_INT(req("GET", "/api/v1/calls", NULL, &o), 401);
    CHECK_STR(err_code(o), "auth_required");
    json_decref(o);
    CHECK_INT(req("GET", "/api/v1/calls/" UUID_A, NULL, &o), 401);
    json_decref(o);
    CHECK_INT(req("GET", "/api/v1/calls", "garbage", &o), 401);
    CHECK_STR(err_code(o), "invalid_token");
    json_decref(o);
    CHECK_INT(req("POST", "/api/v1/calls", caller->token, &o), 405);
    CHECK_STR(err_code(o), "method_not_allowed");
    json_decref(o);

    /* query errors */
    const char *badq[] = {"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=01"};
    for (size_t i = 0; i < sizeof(badq) / sizeof(*badq); i++) {
        char t[64];
        snprintf(t, sizeof(t), "/api/v1/calls?%s", badq[i]);
        CHECK_INT(req("GET", t, caller->token, &o), 400);
        CHECK_STR(err_code(o), "invalid_query");
        json_decref(o);
    }
    /* "r.1.2" is a cursor of the hosts' rate sort; "bi4w" is "n.0" */
    const char *badc[] = {"abc", "ci4xLjI", "bi4w", "12", "%00"};
    for (size_t i = 0; i < sizeof(badc) / sizeof(*badc); i++) {
        char t[64];
        snprintf(t, sizeof(t), "/api/v1/calls?cursor=%s", badc[i]);
        CHECK_INT(req("GET", t, caller->token, &o), 400);
        CHECK_STR(err_code(o), "invalid_cursor");
        json_decref(o);
    }

    /* a third user has no calls */
    CHECK_INT(req("GET", "/api/v1/calls", third->token, &o), 200);
    CHECK_INT(json_array_size(json_object_get(o, "calls")), 0);
    CHECK(json_is_null(json_object_get(o, "next_cursor")));
    json_decref(o);

    /* seven more calls: five caller -> host, then one third -> host, then one more */
    char ids[7][40];
    for (int i = 0; i < 7; i++) {
        snprintf(ids[i], sizeof(ids[i]), "2b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a%02x", i);
        const user *from = i == 5 ? third : caller;
        CHECK_INT(record("{\"op\":\"create\",\"call_id\":\"%s\",\"caller_id\":%llu,"
                         "\"host_id\":%llu,\"kind\":\"%s\"}", ids[i],
                         (unsigned long long)from->id, (unsigned long long)host->id,
                         i % 2 ? "video" : "audio"), 0);
    }
    CHECK_INT(record("{\"op\":\"accept\",\"call_id\":\"%s\",\"session_id\":3,\"handle_id\":4}",
                     ids[6]), 0);
    /* the caller's calls, newest first, 3 a page: ids 6,4,3 | 2,1,0 | B,A */
    const char *want[] = {ids[6], ids[4], ids[3], ids[2], ids[1], ids[0], UUID_B, UUID_A};
    size_t got = 0;
    int pages = 0;
    char cursor[128] = "";
    for (; pages < 10; pages++) {
        char t[256];
        snprintf(t, sizeof(t), "/api/v1/calls?limit=3%s%s", cursor[0] ? "&cursor=" : "", cursor);
        CHECK_INT(req("GET", t, caller->token, &o), 200);
        json_t *list = json_object_get(o, "calls");
        CHECK(json_array_size(list) <= 3);
        for (size_t i = 0; i < json_array_size(list); i++, got++) {
            it = json_array_get(list, i);
            if (got < 8)
                check_item(it, want[got], caller, host, "caller");
        }
        json_t *next = json_object_get(o, "next_cursor");
        CHECK(json_is_string(next) || json_is_null(next));
        snprintf(cursor, sizeof(cursor), "%s", json_is_string(next) ? json_string_value(next) : "");
        json_decref(o);
        if (!cursor[0])
            break;
    }
    CHECK_INT(got, 8);
    CHECK_INT(pages + 1, 3);
    /* exactly a full last page: no further cursor */
    CHECK_INT(req("GET", "/api/v1/calls?limit=8", caller->token, &o), 200);
    CHECK_INT(json_array_size(json_object_get(o, "calls")), 8);
    CHECK(json_is_null(json_object_get(o, "next_cursor")));
    it = json_array_get(json_object_get(o, "calls"), 0);
    CHECK_STR(jstr(it, "state"), "active");
    CHECK(is_time(json_object_get(it, "accepted_at")));
    CHECK(json_is_null(json_object_get(it, "ended_at")));
    CHECK(json_is_null(json_object_get(it, "end_reason")));
    CHECK_STR(jstr(json_array_get(json_object_get(o, "calls"), 1), "state"), "ringing");
    json_decref(o);
    /* the default page holds them all */
    CHECK_INT(req("GET", "/api/v1/calls", caller->token, &o), 200);
    CHECK_INT(json_array_size(json_object_get(o, "calls")), 8);
    json_decref(o);
    /* the host sees all nine, as host; the third user only its own, as caller */
    CHECK_INT(req("GET", "/api/v1/calls?limit=100", host->token, &o), 200);
    json_t *list = json_object_get(o, "calls");
    CHECK_INT(json_array_size(list), 9);
    CHECK_STR(jstr(json_array_get(list, 0), "id"), ids[6]);
    CHECK_STR(jstr(json_array_get(list, 1), "id"), ids[5]);
    for (size_t i = 0; i < json_array_size(list); i++)
        CHECK_STR(jstr(json_array_get(list, i), "role"), "host");
    json_decref(o);
    CHECK_INT(req("GET", "/api/v1/calls", third->token, &o), 200);
    list = json_object_get(o, "calls");
    CHECK_INT(json_array_size(list), 1);
    check_item(json_array_get(list, 0), ids[5], third, host, "caller");
    json_decref(o);
    CHECK_INT(req("GET", "/api/v1/calls/" UUID_B, third->token, &o), 404);
    json_decref(o);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);   /* the refusals below log warnings by design */
    char dir[] = "/tmp/test_calls_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .auth_required = true};
    plat = platform_create(&pc);
    CHECK(plat != NULL);
    if (!plat)
        return check_summary("api-calls");

    user caller = {0}, host = {0}, third = {0};
    make_user(&caller, "carol@x.io", "caller", "Carol");
    make_user(&host, "hana@x.io", "host", "Hana");
    make_user(&third, "tom@x.io", "caller", "Tom");

    test_user_info(&caller, &host);
    test_refusals(&caller, &host);
    test_life(&caller, &host);

    http_server *srv = start_server();
    CHECK(srv != NULL);
    if (srv) {
        test_rest(&caller, &host, &third);
        http_server_stop(srv);
    }

    /* the schema is there after a restart, and migrating again is a no-op */
    platform_destroy(plat);
    plat = platform_create(&pc);
    CHECK(plat != NULL);
    if (plat) {
        CHECK_INT(sql_int("SELECT count(*) FROM calls", NULL), 9);
        CHECK_INT(sql_int("SELECT max(version) FROM schema_migrations WHERE module = 'calls'",
                          NULL), 1);
        platform_destroy(plat);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    return check_summary("api-calls");
}
