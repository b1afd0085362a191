/*
 * Chat store: the chat plugin's operations (src/api/chat*.c) and the REST routes over the
 * real platform, ledger, SQLite file and HTTP server on 127.0.0.1 — conversations once per
 * pair; send (gap-free seq, client_id replay charging once even from four threads at once,
 * over REST and the operations together), host -> caller free, a refused charge storing
 * nothing until a top-up, blocks, history / delivered / read / unread, field rules (UTF-8,
 * size, NUL, client_id), clock skew, the rate limit, the asynchronous path, the listener —
 * and after every scenario the money invariants: ledger_check ok (sum zero, nothing
 * negative), one ledger charge per charged message, seqs without gaps.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"
#include "check.h"
#include "opcheck.h"
#include "ledger/ledger.h"
#include "util/log.h"

static platform_t *plat;
static uint16_t port;

typedef struct user {
    int64_t id;
    api_auth auth;
    char token[1024];
} user;

/* ---- fixtures ---- */

static int call(api_handler fn, const char *body, const api_auth *auth, const char *param, json_t **out,
                api_resp *keep)
{
    http_request http = {.method = "POST", .path = "/", .body = body ? body : "",
                         .body_len = body ? strlen(body) : 0, .remote_ip = "127.0.0.1"};
    api_req rq = {.p = plat, .http = &http};
    if (auth)
        rq.auth = *auth;
    rq.params[0] = param;
    api_resp rs = {0};
    int rc = fn(&rq, &rs);
    *out = rs.body;
    if (keep)
        *keep = rs;
    free(rs.raw);
    return rc == 0 ? rs.status : rs.err.status;
}

static void make_user(user *u, const char *email, const char *role)
{
    char body[300];
    json_t *o;
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"pass word 1\",\"role\":\"%s\",\"display_name\":\"%s\"}",
             email, role, email);
    CHECK_INT(call(auth_register, body, NULL, NULL, &o, NULL), 201);
    u->id = json_integer_value(json_object_get(json_object_get(o, "user"), "id"));
    json_decref(o);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"pass word 1\",\"device_id\":\"d1\"}", email);
    CHECK_INT(call(auth_login, body, NULL, NULL, &o, NULL), 200);
    snprintf(u->token, sizeof u->token, "%s", json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    u->auth.user_id = (uint64_t)u->id;
    snprintf(u->auth.role, sizeof u->auth.role, "%s", role);
}

static void set_message_rate(const user *host, int rate)
{
    char body[64];
    json_t *o;
    snprintf(body, sizeof body, "{\"message_rate\":%d}", rate);
    CHECK_INT(call(users_patch_me, body, &host->auth, NULL, &o, NULL), 200);
    json_decref(o);
}

static void credit(const user *u, int64_t amount, const char *key)
{
    ledger_result res;
    CHECK_INT(ledger_credit_purchase(plat->store, (uint64_t)u->id, amount, key, key, &res), 0);
}

static int64_t available(const user *u)
{
    ledger_balance_t b;
    CHECK_INT(ledger_balance(plat->store, (uint64_t)u->id, &b), 0);
    return b.available;
}

static int int_run(sqlite3 *db, void *arg)
{
    int64_t *v = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, (const char *)(intptr_t)v[1], -1, &st, NULL) != SQLITE_OK)
        return -1;
    v[0] = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return 0;
}

static int64_t sql_int(const char *sql)
{
    int64_t v[2] = {0, (int64_t)(intptr_t)sql};
    CHECK_INT(store_read(plat->store, int_run, v), 0);
    return v[0];
}

static void check_invariants(const char *when)
{
    ledger_check_result c;
    CHECK_INT(ledger_check(plat->store, &c), 0);
    if (!c.ok || c.sum_of_balances != 0 || c.negative_wallets != 0)
        fprintf(stderr, "ledger check after %s: ok %d sum %lld negative %lld\n", when, c.ok,
                (long long)c.sum_of_balances, (long long)c.negative_wallets);
    CHECK(c.ok);
    CHECK_INT(c.sum_of_balances, 0);
    CHECK_INT(c.negative_wallets, 0);
    /* one ledger charge per charged message, of the message's amount */
    CHECK_INT(sql_int("SELECT count(*) FROM ledger_ops WHERE idempotency_key LIKE 'msg:%'"),
              sql_int("SELECT count(*) FROM chat_messages WHERE charged > 0"));
    CHECK_INT(sql_int("SELECT count(*) FROM chat_messages m JOIN ledger_ops o ON o.idempotency_key = "
                      "'msg:' || m.msg_id AND o.kind = 'charge' AND o.amount = m.charged AND o.host_amount = "
                      "m.host_amount AND o.fee_amount = m.fee_amount AND o.ref = 'chat:' || m.conversation"),
              sql_int("SELECT count(*) FROM chat_messages WHERE charged > 0"));
    /* seqs 1..last_seq, no gap */
    CHECK_INT(sql_int("SELECT count(*) FROM conversations c WHERE c.last_seq <> (SELECT count(*) FROM "
                      "chat_messages m WHERE m.conversation = c.id) OR c.last_seq <> (SELECT coalesce(max(seq), 0) "
                      "FROM chat_messages m WHERE m.conversation = c.id)"),
              0);
}

/* ---- operations ---- */

#define op(...) opcheck_run(platform_chat_run, plat, __VA_ARGS__)
static const char *err_code(json_t *o) { return str(json_object_get(o, "error"), "code"); }

static json_t *send_op(int64_t room, const user *from, const char *client_id, const char *text)
{
    return op("{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"%s\",\"text\":\"%s\"}",
              (long long)room, (long long)from->id, client_id, text);
}

/* ---- a small HTTP client ---- */

static void http_handler(void *arg, const http_request *req, http_reply *reply)
{
    platform_handle_http(arg, req, reply);
}

static http_server *start_server(void)
{
    http_server_config cfg = {.bind_ip = "127.0.0.1", .max_body = 65536, .threads = 4, .name = "test"};
    for (int i = 0; i < 50; i++) {
        port = (uint16_t)(30000 + (getpid() * 17 + i * 151 + 3) % 20000);
        cfg.port = port;
        http_server *srv = http_server_start(&cfg, http_handler, plat);
        if (srv)
            return srv;
    }
    return NULL;
}

typedef struct http_answer {
    int status;
    json_t *body;
    int retry_after;
} http_answer;

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

static http_answer http(const char *method, const char *target, const user *u, const char *body)
{
    http_answer a = {.status = -1};
    int fd = connect_local();
    if (fd < 0)
        return a;
    size_t blen = body ? strlen(body) : 0;
    char *req = malloc(2048 + blen);
    int n = snprintf(req, 2048, "%s /api/v1%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, target, u ? u->token : "", blen);
    memcpy(req + n, body ? body : "", blen);
    ssize_t sent = send(fd, req, (size_t)n + blen, MSG_NOSIGNAL);
    free(req);
    static __thread char raw[65536];
    size_t len = 0;
    ssize_t got;
    while (sent > 0 && len < sizeof raw - 1 && (got = recv(fd, raw + len, sizeof raw - 1 - len, 0)) > 0)
        len += (size_t)got;
    close(fd);
    raw[len] = '\0';
    char *sep = strstr(raw, "\r\n\r\n");
    if (!sep || sscanf(raw, "HTTP/1.%*d %d", &a.status) != 1)
        return a;
    const char *ra = strstr(raw, "Retry-After: ");
    a.retry_after = ra && ra < sep ? atoi(ra + 13) : 0;
    a.body = json_loads(sep + 4, 0, NULL);
    return a;
}

static int http_status(const char *method, const char *target, const user *u, const char *body, json_t **out)
{
    http_answer a = http(method, target, u, body);
    if (out)
        *out = a.body;
    else
        json_decref(a.body);
    return a.status;
}

/* ---- the listener ---- */

static pthread_mutex_t events_mu = PTHREAD_MUTEX_INITIALIZER;
static char events[8][512];
static int events_n;

static void on_event(void *arg, const char *event_json)
{
    (void)arg;
    pthread_mutex_lock(&events_mu);
    if (events_n < 8)
        snprintf(events[events_n], sizeof events[0], "%s", event_json);
    events_n++;
    pthread_mutex_unlock(&events_mu);
}

static json_t *last_event(void)
{
    pthread_mutex_lock(&events_mu);
    json_t *e = events_n > 0 && events_n <= 8 ? json_loads(events[events_n - 1], 0, NULL) : NULL;
    pthread_mutex_unlock(&events_mu);
    return e;
}

/* ---- scenarios ---- */

static int64_t open_conversation(const user *a, const user *b, int want)
{
    char body[64];
    json_t *o;
    snprintf(body, sizeof body, "{\"with\":%lld}", (long long)b->id);
    CHECK_INT(http_status("POST", "/conversations", a, body, &o), want);
    int64_t id = num(o, "id");
    json_decref(o);
    return id;
}

static int64_t test_conversations(const user *carol, const user *hana, const user *tom)
{
    int64_t room = open_conversation(carol, hana, 201);
    CHECK(room > 0);
    CHECK_INT(open_conversation(carol, hana, 200), room);   /* once per pair */
    CHECK_INT(open_conversation(hana, carol, 200), room);   /* whoever opens it */
    json_t *o;
    CHECK_INT(http_status("POST", "/conversations", carol, "{\"with\":999999}", &o), 404);
    CHECK_STR(err_code(o), "not_found");
    json_decref(o);
    char body[64];
    snprintf(body, sizeof body, "{\"with\":%lld}", (long long)tom->id);   /* caller with caller */
    CHECK_INT(http_status("POST", "/conversations", carol, body, &o), 422);
    CHECK_STR(err_code(o), "invalid_peer");
    json_decref(o);
    snprintf(body, sizeof body, "{\"with\":%lld}", (long long)carol->id);
    CHECK_INT(http_status("POST", "/conversations", carol, body, &o), 422);
    CHECK_STR(err_code(o), "invalid_peer");
    json_decref(o);
    CHECK_INT(http_status("GET", "/conversations", hana, NULL, &o), 200);
    json_t *c = json_array_get(json_object_get(o, "conversations"), 0);
    CHECK_INT(num(c, "id"), room);
    CHECK_INT(num(c, "caller_id"), carol->id);
    CHECK_STR(str(json_object_get(c, "peer"), "role"), "caller");
    CHECK(json_is_null(json_object_get(c, "last_message")));
    json_decref(o);
    CHECK_INT(sql_int("SELECT count(*) FROM conversations"), 1);
    return room;
}

typedef struct racer {
    int64_t room;
    const user *from;
    bool rest;
    char msg_id[40];
    bool fresh;
} racer;

static void *race_send(void *arg)
{
    racer *r = arg;
    const char *cid = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a02";
    json_t *o;
    if (r->rest) {
        char target[64], body[128];
        snprintf(target, sizeof target, "/conversations/%lld/messages", (long long)r->room);
        snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"text\":\"twice?\"}", cid);
        http_answer a = http("POST", target, r->from, body);
        o = a.body;
        r->fresh = a.status == 201;
    } else {
        char *out = NULL, text[256];
        snprintf(text, sizeof text, "{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"%s\",\"text\":\"twice?\"}",
                 (long long)r->room, (long long)r->from->id, cid);
        out = platform_chat_run(plat, text);
        o = out ? json_loads(out, 0, NULL) : NULL;
        free(out);
        r->fresh = ok(o) && !json_is_true(json_object_get(o, "replayed"));
    }
    snprintf(r->msg_id, sizeof r->msg_id, "%s", str(o, "msg_id") ? str(o, "msg_id") : "");
    json_decref(o);
    return NULL;
}

static void test_send(int64_t room, const user *carol, const user *hana)
{
    /* carol has 35; hana's message_rate is 10, the fee 20 % */
    json_t *r = send_op(room, carol, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01", "hello");
    CHECK(ok(r));
    CHECK_INT(num(r, "seq"), 1);
    CHECK_INT(num(r, "charged"), 10);
    CHECK_INT(num(r, "from"), carol->id);
    CHECK_INT(num(r, "to"), hana->id);
    CHECK_INT(num(r, "room"), room);
    CHECK(!json_is_true(json_object_get(r, "replayed")));
    CHECK(str(r, "date") && strlen(str(r, "date")) == 24);
    char first[40];
    snprintf(first, sizeof first, "%s", str(r, "msg_id"));
    json_decref(r);
    CHECK_INT(available(carol), 25);
    ledger_balance_t hb;
    CHECK_INT(ledger_balance(plat->store, (uint64_t)hana->id, &hb), 0);
    CHECK_INT(hb.earnings, 8);
    /* the same client_id three more times (an upper-case retry and another text too): the first */
    for (int i = 0; i < 3; i++) {
        r = send_op(room, carol, i == 1 ? "5F0C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A01" : "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01",
                    i == 2 ? "other text" : "hello");
        CHECK(ok(r));
        CHECK(json_is_true(json_object_get(r, "replayed")));
        CHECK_STR(str(r, "msg_id"), first);
        CHECK_STR(str(r, "text"), "hello");
        CHECK_INT(num(r, "seq"), 1);
        CHECK_INT(num(r, "charged"), 10);
        json_decref(r);
    }
    CHECK_INT(available(carol), 25);
    /* one client_id from four threads at once, two over REST and two as operations */
    pthread_t t[4];
    racer rc[4];
    for (int i = 0; i < 4; i++) {
        rc[i] = (racer){.room = room, .from = carol, .rest = i % 2 == 0};
        pthread_create(&t[i], NULL, race_send, &rc[i]);
    }
    int fresh = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        fresh += rc[i].fresh;
        CHECK_INT(strlen(rc[i].msg_id), 36);
        CHECK_STR(rc[i].msg_id, rc[0].msg_id);
    }
    CHECK_INT(fresh, 1);
    CHECK_INT(available(carol), 15);
    CHECK_INT(sql_int("SELECT count(*) FROM chat_messages"), 2);
    /* host -> caller is free */
    r = send_op(room, hana, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a03", "hi back");
    CHECK(ok(r));
    CHECK_INT(num(r, "seq"), 3);
    CHECK_INT(num(r, "charged"), 0);
    json_decref(r);
    CHECK_INT(available(carol), 15);
    CHECK_INT(sql_int("SELECT sum(charged) FROM chat_messages"), 20);
    CHECK_INT(sql_int("SELECT fee_amount FROM chat_messages WHERE seq = 1"), 2);   /* split as minutes */
    check_invariants("send");
}

static void test_insufficient(int64_t room, const user *carol)
{
    json_t *r = send_op(room, carol, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a04", "one more");
    CHECK(ok(r));
    json_decref(r);
    CHECK_INT(available(carol), 5);
    int64_t msgs = sql_int("SELECT count(*) FROM chat_messages"), ops = sql_int("SELECT count(*) FROM ledger_ops");
    r = send_op(room, carol, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a05", "too dear");
    CHECK(!ok(r));
    CHECK_STR(reason(r), "insufficient_balance");
    CHECK_INT(num(r, "needed"), 10);
    CHECK_INT(num(r, "balance"), 5);
    json_decref(r);
    char target[64];
    snprintf(target, sizeof target, "/conversations/%lld/messages", (long long)room);
    json_t *o;
    CHECK_INT(http_status("POST", target, carol, "{\"client_id\":\"5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a05\",\"text\":\"x\"}",
                          &o), 402);
    CHECK_STR(err_code(o), "insufficient_balance");
    CHECK_INT(num(json_object_get(o, "error"), "needed"), 10);
    CHECK_INT(num(json_object_get(o, "error"), "balance"), 5);
    json_decref(o);
    CHECK_INT(sql_int("SELECT count(*) FROM chat_messages"), msgs);   /* nothing stored */
    CHECK_INT(sql_int("SELECT count(*) FROM ledger_ops"), ops);       /* nothing charged */
    check_invariants("refused charge");
    credit(carol, 20, "purchase:topup");
    r = send_op(room, carol, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a05", "too dear");
    CHECK(ok(r));
    CHECK(!json_is_true(json_object_get(r, "replayed")));   /* the refused one left no trace */
    CHECK_INT(num(r, "seq"), 5);
    json_decref(r);
    CHECK_INT(available(carol), 15);
    check_invariants("top-up");
}

/* Messages queued together (the plugin's send_many): each outcome as a lone send would give
 * it, in order; a refused one (no credit, bad fields) stores and charges nothing and leaves
 * no gap; a client_id twice in one batch is one message; the ledger balances after. */
static void test_send_many(int64_t room, const user *carol, const user *hana)
{
    CHECK_INT(available(carol), 15);
    int64_t msgs = sql_int("SELECT count(*) FROM chat_messages"), ops = sql_int("SELECT count(*) FROM ledger_ops");
    int64_t seq0 = sql_int("SELECT max(seq) FROM chat_messages WHERE conversation IN (SELECT conversation FROM "
                           "chat_messages WHERE client_id = '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a05')");
#define SM(from, cid, text) "{\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"" cid "\",\"text\":\"" text "\"}"
    json_t *r = op("{\"op\":\"send_many\",\"sends\":[" SM(c, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01", "paid") ","
                   SM(c, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a02", "no credit left") "," SM(c, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a03", "")
                   "," SM(c, "6F0C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A01", "paid, again") "," SM(h, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a04", "free")
                   "," SM(c, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a05", "an old one") "," SM(c, "not-a-uuid", "x") "]}",
                   (long long)room, (long long)carol->id, (long long)room, (long long)carol->id, (long long)room,
                   (long long)carol->id, (long long)room, (long long)carol->id, (long long)room, (long long)hana->id,
                   (long long)room, (long long)carol->id, (long long)room, (long long)carol->id);
#undef SM
    CHECK(ok(r));
    json_t *res = json_object_get(r, "results");
    CHECK_INT(json_array_size(res), 7);
    json_t *paid = json_array_get(res, 0), *again = json_array_get(res, 3), *free_one = json_array_get(res, 4);
    CHECK(ok(paid));
    CHECK_INT(num(paid, "seq"), seq0 + 1);
    CHECK_INT(num(paid, "charged"), 10);
    CHECK_INT(num(paid, "to"), hana->id);
    CHECK(json_is_false(json_object_get(paid, "replayed")));
    CHECK(str(paid, "msg_id") && str(paid, "msg_id")[14] == '7');   /* time-ordered (version 7) */
    CHECK_STR(reason(json_array_get(res, 1)), "insufficient_balance");
    CHECK_INT(num(json_array_get(res, 1), "balance"), 5);
    CHECK_STR(reason(json_array_get(res, 2)), "invalid");
    CHECK_STR(str(json_array_get(res, 2), "field"), "text");
    CHECK(ok(again));
    CHECK(json_is_true(json_object_get(again, "replayed")));
    CHECK_STR(str(again, "msg_id"), str(paid, "msg_id"));
    CHECK_STR(str(again, "text"), "paid");
    CHECK(ok(free_one));
    CHECK_INT(num(free_one, "seq"), seq0 + 2);   /* no gap where the refused ones were */
    CHECK_INT(num(free_one, "charged"), 0);
    CHECK(json_is_true(json_object_get(json_array_get(res, 5), "replayed")));
    CHECK_INT(num(json_array_get(res, 5), "seq"), seq0);
    CHECK_STR(str(json_array_get(res, 6), "field"), "client_id");
    /* the lone send's view of the message is the batch's */
    json_t *lone = send_op(room, carol, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01", "paid");
    CHECK(json_is_true(json_object_get(lone, "replayed")));
    const char *keys[] = {"msg_id", "seq", "from", "date", "date_ms", "text", "client_id", "charged", "room", "to"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        CHECK(json_equal(json_object_get(lone, keys[i]), json_object_get(paid, keys[i])));
    json_decref(lone);
    json_decref(r);
    CHECK_INT(available(carol), 5);
    CHECK_INT(sql_int("SELECT count(*) FROM chat_messages"), msgs + 2);
    CHECK_INT(sql_int("SELECT count(*) FROM ledger_ops"), ops + 1);
    check_invariants("send_many");
    r = op("{\"op\":\"send_many\",\"sends\":[]}");
    CHECK_STR(reason(r), "invalid");
    json_decref(r);
    credit(carol, 10, "purchase:send_many");
    CHECK_INT(available(carol), 15);
}

static void test_blocks(int64_t room, const user *carol, const user *hana)
{
    char body[64], target[64];
    json_t *o;
    snprintf(body, sizeof body, "{\"user_id\":%lld}", (long long)carol->id);
    CHECK_INT(http_status("POST", "/blocks", hana, body, &o), 201);
    CHECK_INT(num(o, "user_id"), carol->id);
    json_decref(o);
    CHECK_INT(http_status("POST", "/blocks", hana, body, NULL), 200);
    CHECK_INT(http_status("POST", "/blocks", hana, "{\"user_id\":999999}", NULL), 404);
    snprintf(body, sizeof body, "{\"user_id\":%lld}", (long long)hana->id);
    CHECK_INT(http_status("POST", "/blocks", hana, body, NULL), 422);
    CHECK_INT(http_status("GET", "/blocks", hana, NULL, &o), 200);
    CHECK_INT(json_array_size(json_object_get(o, "blocks")), 1);
    json_decref(o);
    CHECK(platform_user_blocks(plat, (uint64_t)hana->id, (uint64_t)carol->id));
    CHECK(!platform_user_blocks(plat, (uint64_t)carol->id, (uint64_t)hana->id));
    int64_t before = available(carol);
    json_t *r = send_op(room, carol, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a06", "let me in");
    CHECK_STR(reason(r), "blocked");
    json_decref(r);
    snprintf(target, sizeof target, "/conversations/%lld/messages", (long long)room);
    CHECK_INT(http_status("POST", target, carol, "{\"client_id\":\"5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a06\",\"text\":\"x\"}",
                          &o), 403);
    CHECK_STR(err_code(o), "blocked");
    json_decref(o);
    CHECK_INT(available(carol), before);
    r = send_op(room, hana, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a07", "the blocker still writes");
    CHECK(ok(r));
    json_decref(r);
    snprintf(target, sizeof target, "/blocks/%lld", (long long)carol->id);
    CHECK_INT(http_status("DELETE", target, hana, NULL, NULL), 204);
    CHECK_INT(http_status("DELETE", target, hana, NULL, &o), 404);
    json_decref(o);
    CHECK(!platform_user_blocks(plat, (uint64_t)hana->id, (uint64_t)carol->id));
    r = send_op(room, carol, "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a06", "let me in");
    CHECK(ok(r));
    json_decref(r);
    check_invariants("blocks");
}

static const char *state_of(json_t *msgs, int64_t seq)
{
    for (size_t i = 0; i < json_array_size(msgs); i++)
        if (num(json_array_get(msgs, i), "seq") == seq)
            return str(json_array_get(msgs, i), "state");
    return NULL;
}

static void check_history_states(int64_t room, const user *as, const char *s1, const char *s2, const char *s3)
{
    json_t *r = op("{\"op\":\"history\",\"room\":%lld,\"user_id\":%lld,\"after_seq\":0,\"limit\":10}", (long long)room,
                   (long long)as->id);
    CHECK(ok(r));
    json_t *m = json_object_get(r, "messages");
    CHECK_INT(json_array_size(m), 4);
    CHECK_STR(state_of(m, 1), s1);
    CHECK_STR(state_of(m, 2), s2);
    CHECK_STR(state_of(m, 3), s3);
    json_decref(r);
}

static int64_t unread_of(const user *u, int64_t room)
{
    json_t *r = op("{\"op\":\"unread\",\"user_id\":%lld}", (long long)u->id);
    int64_t n = -1;
    json_t *rooms = json_object_get(r, "rooms");
    for (size_t i = 0; i < json_array_size(rooms); i++)
        if (num(json_array_get(rooms, i), "room") == room)
            n = num(json_array_get(rooms, i), "unread");
    json_decref(r);
    return n;
}

static void test_receipts(const user *tom, const user *hugo, const user *carol)
{
    int64_t room = open_conversation(tom, hugo, 201);
    char ids[3][40];
    for (int i = 0; i < 3; i++) {
        char cid[40];
        snprintf(cid, sizeof cid, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a0%d", i);
        json_t *r = send_op(room, tom, cid, "from tom");
        CHECK_INT(num(r, "seq"), i + 1);
        CHECK_INT(num(r, "charged"), 0);   /* hugo's message_rate is 0 */
        snprintf(ids[i], sizeof ids[i], "%s", str(r, "msg_id"));
        json_decref(r);
    }
    json_decref(send_op(room, hugo, "6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a09", "from hugo"));
    CHECK_INT(unread_of(hugo, room), 3);
    CHECK_INT(unread_of(tom, room), 1);
    check_history_states(room, tom, "sent", "sent", "sent");
    json_t *r = op("{\"op\":\"delivered\",\"room\":%lld,\"user_id\":%lld,\"msg_id\":\"%s\"}", (long long)room,
                   (long long)hugo->id, ids[1]);
    CHECK(ok(r));
    CHECK_INT(num(r, "seq"), 2);
    CHECK_INT(num(r, "sender_id"), tom->id);
    CHECK(json_is_true(json_object_get(r, "changed")));
    json_decref(r);
    r = op("{\"op\":\"delivered\",\"room\":%lld,\"user_id\":%lld,\"msg_id\":\"%s\"}", (long long)room,
           (long long)hugo->id, ids[1]);
    CHECK(json_is_false(json_object_get(r, "changed")));
    json_decref(r);
    r = op("{\"op\":\"delivered\",\"room\":%lld,\"user_id\":%lld,\"msg_id\":\"%s\"}", (long long)room,
           (long long)tom->id, ids[0]);   /* one's own message: not a receipt */
    CHECK_STR(reason(r), "not_found");
    json_decref(r);
    check_history_states(room, hugo, "delivered", "delivered", "sent");   /* delivered_seq 2 covers seq 1 */
    /* Receipts together: each outcome in order, as if alone; a refused one moves nothing. */
    r = op("{\"op\":\"delivered_many\",\"receipts\":[{\"room\":%lld,\"user_id\":%lld,\"msg_id\":\"%s\"},"
           "{\"room\":%lld,\"user_id\":%lld,\"msg_id\":\"%s\"},{\"room\":%lld,\"user_id\":%lld,\"msg_id\":\"%s\"}]}",
           (long long)room, (long long)hugo->id, ids[2], (long long)room, (long long)tom->id, ids[2], (long long)room,
           (long long)hugo->id, ids[1]);
    CHECK(ok(r));
    json_t *results = json_object_get(r, "results");
    CHECK_INT(json_array_size(results), 3);
    CHECK(ok(json_array_get(results, 0)));
    CHECK_INT(num(json_array_get(results, 0), "seq"), 3);
    CHECK(json_is_true(json_object_get(json_array_get(results, 0), "changed")));
    CHECK_STR(reason(json_array_get(results, 1)), "not_found");   /* tom's own message */
    CHECK(json_is_false(json_object_get(json_array_get(results, 2), "changed")));
    json_decref(r);
    r = op("{\"op\":\"delivered_many\",\"receipts\":[]}");
    CHECK_STR(reason(r), "invalid");
    json_decref(r);
    r = op("{\"op\":\"read\",\"room\":%lld,\"user_id\":%lld,\"up_to_seq\":100}", (long long)room, (long long)hugo->id);
    CHECK(ok(r));
    CHECK_INT(num(r, "read_seq"), 4);   /* clamped to last_seq */
    CHECK_INT(num(r, "peer_id"), tom->id);
    CHECK(json_is_true(json_object_get(r, "changed")));
    json_decref(r);
    r = op("{\"op\":\"read\",\"room\":%lld,\"user_id\":%lld,\"up_to_seq\":2}", (long long)room, (long long)hugo->id);
    CHECK_INT(num(r, "read_seq"), 4);   /* positions only grow */
    CHECK(json_is_false(json_object_get(r, "changed")));
    json_decref(r);
    check_history_states(room, tom, "read", "read", "read");
    CHECK_INT(unread_of(hugo, room), 0);
    r = op("{\"op\":\"join\",\"room\":%lld,\"user_id\":%lld}", (long long)room, (long long)tom->id);
    CHECK(ok(r));
    CHECK_INT(num(r, "peer_id"), hugo->id);
    CHECK_INT(num(r, "last_seq"), 4);
    CHECK_INT(num(r, "read_seq"), 0);
    CHECK_INT(num(r, "peer_read_seq"), 4);
    CHECK_INT(num(r, "peer_delivered_seq"), 4);   /* read implies delivered */
    json_decref(r);
    r = op("{\"op\":\"join\",\"room\":%lld,\"user_id\":%lld}", (long long)room, (long long)carol->id);
    CHECK_STR(reason(r), "not_member");
    json_decref(r);
    r = op("{\"op\":\"history\",\"room\":999999,\"user_id\":%lld}", (long long)tom->id);
    CHECK_STR(reason(r), "not_found");
    json_decref(r);
    r = op("{\"op\":\"history\",\"room\":%lld,\"user_id\":%lld,\"after_seq\":2,\"limit\":1}", (long long)room,
           (long long)tom->id);
    CHECK_INT(json_array_size(json_object_get(r, "messages")), 1);
    CHECK_INT(num(json_array_get(json_object_get(r, "messages"), 0), "seq"), 3);
    json_decref(r);

    /* REST: pages of messages, newest first by page, ascending inside */
    char target[96];
    json_t *o;
    snprintf(target, sizeof target, "/conversations/%lld/messages?limit=3", (long long)room);
    CHECK_INT(http_status("GET", target, tom, NULL, &o), 200);
    json_t *m = json_object_get(o, "messages");
    CHECK_INT(json_array_size(m), 3);
    CHECK_INT(num(json_array_get(m, 0), "seq"), 2);
    CHECK_INT(num(json_array_get(m, 2), "seq"), 4);
    CHECK_INT(num(o, "next_before_seq"), 2);
    json_decref(o);
    snprintf(target, sizeof target, "/conversations/%lld/messages?before_seq=2&limit=3", (long long)room);
    CHECK_INT(http_status("GET", target, tom, NULL, &o), 200);
    CHECK_INT(json_array_size(json_object_get(o, "messages")), 1);
    CHECK(json_is_null(json_object_get(o, "next_before_seq")));
    json_decref(o);
    snprintf(target, sizeof target, "/conversations/%lld/messages?limit=201", (long long)room);
    CHECK_INT(http_status("GET", target, tom, NULL, NULL), 400);
    snprintf(target, sizeof target, "/conversations/%lld/messages", (long long)room);
    CHECK_INT(http_status("GET", target, carol, NULL, &o), 403);
    CHECK_STR(err_code(o), "not_member");
    json_decref(o);
    CHECK_INT(http_status("GET", "/conversations/999999/messages", tom, NULL, &o), 404);
    json_decref(o);

    /* REST read and send reach the listener */
    events_n = 0;
    snprintf(target, sizeof target, "/conversations/%lld/read", (long long)room);
    CHECK_INT(http_status("POST", target, tom, "{\"up_to_seq\":4}", &o), 200);
    CHECK_INT(num(o, "read_seq"), 4);
    json_decref(o);
    json_t *e = last_event();
    CHECK_STR(str(e, "event"), "read");
    CHECK_INT(num(e, "room"), room);
    CHECK_INT(num(e, "user_id"), tom->id);
    CHECK_INT(num(e, "up_to_seq"), 4);
    json_decref(e);
    CHECK_INT(http_status("POST", target, tom, "{\"up_to_seq\":4}", NULL), 200);
    CHECK_INT(events_n, 1);   /* nothing moved: nothing told */
    snprintf(target, sizeof target, "/conversations/%lld/messages", (long long)room);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a10\",\"text\":\"rest\","
                          "\"client_date\":1}", NULL), 400);   /* clock skew */
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a10\",\"text\":\"rest\"}",
                          &o), 201);
    CHECK_INT(num(o, "seq"), 5);
    CHECK_STR(str(o, "state"), "sent");
    CHECK(json_object_get(o, "ok") == NULL);
    json_decref(o);
    e = last_event();
    CHECK_STR(str(e, "event"), "message");
    CHECK_INT(num(e, "room"), room);
    CHECK_INT(num(e, "seq"), 5);
    CHECK_INT(num(json_object_get(e, "message"), "seq"), 5);
    CHECK_STR(str(e, "text"), "rest");
    json_decref(e);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a10\",\"text\":\"rest\"}",
                          NULL), 200);   /* a replay: told once */
    CHECK_INT(events_n, 2);
    CHECK_INT(http_status("GET", "/conversations", hugo, NULL, &o), 200);
    json_t *c = json_array_get(json_object_get(o, "conversations"), 0);   /* newest activity first */
    CHECK_INT(num(c, "id"), room);
    CHECK_INT(num(c, "unread"), 1);
    CHECK_INT(num(json_object_get(c, "last_message"), "seq"), 5);
    CHECK_STR(str(json_object_get(c, "last_message"), "state"), "sent");
    json_decref(o);
    check_invariants("receipts");
}

static void expect_invalid(int64_t room, const user *from, const char *text_json, const char *cid, const char *field)
{
    json_t *r = op("{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"%s\",\"text\":%s}", (long long)room,
                   (long long)from->id, cid, text_json);
    CHECK(!ok(r));
    CHECK_STR(reason(r), "invalid");
    if (field)
        CHECK_STR(str(r, "field"), field);
    json_decref(r);
}

static void test_fields(int64_t room, const user *tom)
{
    static const char cid[] = "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a00";
    int64_t msgs = sql_int("SELECT count(*) FROM chat_messages");
    expect_invalid(room, tom, "\"\"", cid, "text");
    expect_invalid(room, tom, "\"a\\u0000b\"", cid, "text");
    expect_invalid(room, tom, "\"\xff\"", cid, NULL);          /* not even JSON */
    expect_invalid(room, tom, "\"ok\"", "not-a-uuid", "client_id");
    expect_invalid(room, tom, "\"ok\"", "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a0g", "client_id");
    expect_invalid(room, tom, "12", cid, "text");
    char *big = malloc(CHAT_TEXT_MAX + 8);
    big[0] = '"';
    memset(big + 1, 'x', CHAT_TEXT_MAX + 1);
    strcpy(big + CHAT_TEXT_MAX + 2, "\"");
    expect_invalid(room, tom, big, cid, "text");   /* 4097 bytes */
    big[CHAT_TEXT_MAX + 1] = '"';
    big[CHAT_TEXT_MAX + 2] = '\0';
    json_t *r = op("{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"%s\",\"text\":%s}", (long long)room,
                   (long long)tom->id, cid, big);   /* 4096 bytes: fine */
    CHECK(ok(r));
    CHECK_INT(strlen(str(r, "text")), CHAT_TEXT_MAX);
    json_decref(r);
    free(big);
    CHECK_INT(sql_int("SELECT count(*) FROM chat_messages"), msgs + 1);
    /* the validator alone: overlong, surrogates, beyond U+10FFFF, truncated */
    CHECK(chat_utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
    CHECK(!chat_utf8_valid("\xc0\xaf", 2));
    CHECK(!chat_utf8_valid("\xe0\x80\xaf", 3));
    CHECK(!chat_utf8_valid("\xed\xa0\x80", 3));
    CHECK(!chat_utf8_valid("\xf4\x90\x80\x80", 4));
    CHECK(!chat_utf8_valid("\xe2\x82", 2));
    /* REST: the same rules, their own codes */
    char target[64];
    json_t *o;
    snprintf(target, sizeof target, "/conversations/%lld/messages", (long long)room);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01\",\"text\":\"\"}", &o),
              400);
    CHECK_STR(err_code(o), "invalid_text");
    json_decref(o);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01\",\"text\":\"a\\u0000\"}",
                          &o), 400);
    CHECK_STR(err_code(o), "invalid_text");
    json_decref(o);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01\",\"text\":\"\xc0\xaf\"}",
                          &o), 400);
    CHECK_STR(err_code(o), "invalid_text");
    json_decref(o);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"nope\",\"text\":\"x\"}", &o), 400);
    CHECK_STR(err_code(o), "invalid_client_id");
    json_decref(o);
    CHECK_INT(http_status("POST", target, tom, "{\"client_id\":\"7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01\"}", &o), 422);
    CHECK_STR(err_code(o), "missing_field");
    json_decref(o);
    CHECK_INT(sql_int("SELECT count(*) FROM chat_messages"), msgs + 1);
    check_invariants("fields");
}

static void test_clock_skew(int64_t room, const user *tom)
{
    int64_t now = store_now_ms();
    json_t *r = op("{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a00\","
                   "\"text\":\"late\",\"client_date\":%lld}", (long long)room, (long long)tom->id,
                   (long long)(now - 6 * 60 * 1000));
    CHECK_STR(reason(r), "invalid");
    CHECK_STR(str(r, "field"), "client_date");
    json_decref(r);
    r = op("{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a00\","
           "\"text\":\"early\",\"client_date\":%lld}", (long long)room, (long long)tom->id,
           (long long)(now + 6 * 60 * 1000));
    CHECK_STR(reason(r), "invalid");
    json_decref(r);
    r = op("{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":\"8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a00\","
           "\"text\":\"fine\",\"client_date\":%lld}", (long long)room, (long long)tom->id, (long long)(now - 60000));
    CHECK(ok(r));
    CHECK_INT(num(r, "client_date"), now - 60000);   /* kept apart */
    CHECK(num(r, "date_ms") >= now);                 /* the server's time */
    json_decref(r);
    check_invariants("clock skew");
}

/* ---- the asynchronous path ---- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done;
    pthread_t thread;
    char result[1024];
} waiter;

static void on_done(void *arg, const char *json)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    snprintf(w->result, sizeof w->result, "%s", json);
    w->thread = pthread_self();
    w->done++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static json_t *submit_wait(const char *text, bool *other_thread)
{
    waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    CHECK_INT(platform_chat_submit(plat, text, on_done, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    CHECK_INT(w.done, 1);
    *other_thread = !pthread_equal(w.thread, pthread_self());
    return json_loads(w.result, 0, NULL);
}

static void test_async(int64_t room, const user *tom)
{
    char text[256];
    bool other;
    snprintf(text, sizeof text, "{\"op\":\"send\",\"room\":%lld,\"sender_id\":%lld,\"client_id\":"
             "\"9f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a00\",\"text\":\"async\"}", (long long)room, (long long)tom->id);
    json_t *r = submit_wait(text, &other);
    CHECK(ok(r));
    CHECK(other);   /* the storage thread */
    json_decref(r);
    snprintf(text, sizeof text, "{\"op\":\"join\",\"room\":%lld,\"user_id\":%lld}", (long long)room, (long long)tom->id);
    r = submit_wait(text, &other);
    CHECK(ok(r));
    json_decref(r);
    r = submit_wait("{\"op\":\"steal\"}", &other);   /* refused before queueing: answered at once */
    CHECK_STR(reason(r), "invalid");
    CHECK(!other);
    json_decref(r);
    check_invariants("async");
}

/* ---- the rate limit, on a platform of its own ---- */

static void test_rate_limit(const char *dir)
{
    platform_t *main_plat = plat;
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .auth_required = true, .chat_rate_per_s = 1, .chat_burst = 3};
    plat = platform_create(&pc);
    CHECK(plat != NULL);
    if (!plat) {
        plat = main_plat;
        return;
    }
    user c = {0}, h = {0}, c2 = {0};
    make_user(&c, "rc@x.io", "caller");
    make_user(&h, "rh@x.io", "host");
    make_user(&c2, "rc2@x.io", "caller");
    char body[64], param[24];
    json_t *o;
    snprintf(body, sizeof body, "{\"with\":%lld}", (long long)h.id);
    CHECK_INT(call(chat_conversation_open, body, &c.auth, NULL, &o, NULL), 201);
    int64_t room = num(o, "id");
    json_decref(o);
    CHECK_INT(call(chat_conversation_open, body, &c2.auth, NULL, &o, NULL), 201);
    int64_t room2 = num(o, "id");
    json_decref(o);
    for (int i = 0; i < 3; i++) {   /* the burst, a replay among them */
        json_t *r = send_op(room, &c, i == 2 ? "af0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a04" : "af0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a00",
                            "burst");
        CHECK(ok(r));
        json_decref(r);
    }
    json_t *r = send_op(room, &c, "af0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01", "over");
    CHECK_STR(reason(r), "rate_limited");
    CHECK(num(r, "retry_after_ms") > 0 && num(r, "retry_after_ms") <= 1000);
    json_decref(r);
    snprintf(param, sizeof param, "%lld", (long long)room);
    api_resp rs;
    CHECK_INT(call(chat_messages_send, "{\"client_id\":\"af0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a02\",\"text\":\"rest\"}", &c.auth,
                   param, &o, &rs), 429);
    CHECK_STR(rs.err.code, "rate_limited");
    CHECK(rs.err.retry_after_s >= 1);
    json_decref(o);
    r = send_op(room2, &c2, "af0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a03", "another sender");   /* per sender */
    CHECK(ok(r));
    json_decref(r);
    r = op("{\"op\":\"history\",\"room\":%lld,\"user_id\":%lld}", (long long)room, (long long)c.id);   /* reads: no limit */
    CHECK(ok(r));
    CHECK_INT(json_array_size(json_object_get(r, "messages")), 2);
    json_decref(r);
    usleep(1100 * 1000);   /* one token back at 1 per second */
    r = send_op(room, &c, "af0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01", "later");
    CHECK(ok(r));
    json_decref(r);
    check_invariants("rate limit");
    platform_destroy(plat);
    plat = main_plat;
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);   /* refusals log by design */
    char dir[] = "/tmp/test_chat_XXXXXX", dir2[] = "/tmp/test_chat2_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(mkdtemp(dir2) != NULL);
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .auth_required = true};
    plat = platform_create(&pc);
    CHECK(plat != NULL);
    if (!plat)
        return check_summary("api-chat");
    platform_set_chat_listener(plat, on_event, NULL);
    user carol = {0}, hana = {0}, tom = {0}, hugo = {0};
    make_user(&carol, "carol@x.io", "caller");
    make_user(&hana, "hana@x.io", "host");
    make_user(&tom, "tom@x.io", "caller");
    make_user(&hugo, "hugo@x.io", "host");
    set_message_rate(&hana, 10);
    credit(&carol, 35, "purchase:c1");
    http_server *srv = start_server();
    CHECK(srv != NULL);
    if (srv) {
        int64_t room = test_conversations(&carol, &hana, &tom);
        test_send(room, &carol, &hana);
        test_insufficient(room, &carol);
        test_send_many(room, &carol, &hana);
        test_blocks(room, &carol, &hana);
        test_receipts(&tom, &hugo, &carol);
        int64_t room2 = sql_int("SELECT id FROM conversations WHERE caller_id = (SELECT id FROM users WHERE "
                                "email = 'tom@x.io')");
        test_fields(room2, &tom);
        test_clock_skew(room2, &tom);
        test_async(room2, &tom);
        http_server_stop(srv);
    }
    test_rate_limit(dir2);
    /* after a restart everything is there, and migrating again is a no-op */
    int64_t msgs = sql_int("SELECT count(*) FROM chat_messages");
    platform_destroy(plat);
    plat = platform_create(&pc);
    CHECK(plat != NULL);
    if (plat) {
        CHECK_INT(sql_int("SELECT count(*) FROM chat_messages"), msgs);
        CHECK_INT(sql_int("SELECT max(version) FROM schema_migrations WHERE module = 'chat'"), 1);
        check_invariants("restart");
        platform_destroy(plat);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, dir2);
    CHECK_INT(system(cmd), 0);
    return check_summary("api-chat");
}
