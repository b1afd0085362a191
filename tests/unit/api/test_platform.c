/*
 * The platform object end to end without HTTP: a real SQLite file in a temp dir, handlers
 * called with real request structs, money moved by the real ledger. Covers what the REST
 * integration test cannot reach yet (earnings and revenue with actual charges, which only
 * the billing plugin makes), the core's entry points (token verification, presence),
 * persistence across platform_destroy/create (secret, live families), and the store's group
 * window as platform_config sets it (store.group_window_us).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/jwt.h"
#include "ledger/ledger.h"
#include "check.h"
#include "util/log.h"

static platform_t *open_platform_ttl(const char *dir, int ttl_s)
{
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .rate_limit_per_min = 0,
                          .access_ttl_s = ttl_s, .refresh_ttl_s = ttl_s};
    return platform_create(&pc);
}

static platform_t *open_platform(const char *dir)
{
    return open_platform_ttl(dir, 0);   /* defaults */
}

static const char *last_code;   /* error code of the last failed run() */

/* Runs a handler on a body; returns the status and leaves the JSON answer in *out. */
static int run(platform_t *p, api_handler fn, const char *body, const api_auth *auth,
               const char *param, json_t **out)
{
    http_request http = {.method = "POST", .path = "/", .body = body ? body : "",
                         .body_len = body ? strlen(body) : 0, .remote_ip = "127.0.0.1"};
    api_req rq = {.p = p, .http = &http};
    if (auth)
        rq.auth = *auth;
    if (param) {
        snprintf(rq.param_buf[0], sizeof(rq.param_buf[0]), "%s", param);
        rq.params[0] = rq.param_buf[0];
    }
    api_resp rs = {0};
    int rc = fn(&rq, &rs);
    *out = rs.body;
    last_code = rc == 0 ? NULL : rs.err.code;
    return rc == 0 ? rs.status : rs.err.status;
}

static int64_t jint(json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    return json_integer_value(v);
}

/* Runs auth_login from a given client address; returns the status (Retry-After in *retry). */
static int login_from(platform_t *p, const char *ip, const char *password, int *retry)
{
    char body[200];
    snprintf(body, sizeof body, "{\"email\":\"owner@x.io\",\"password\":\"%s\","
             "\"device_id\":\"d\"}", password);
    http_request http = {.method = "POST", .path = "/", .body = body, .body_len = strlen(body),
                         .remote_ip = ip};
    api_req rq = {.p = p, .http = &http};
    api_resp rs = {0};
    int rc = auth_login(&rq, &rs);
    json_decref(rs.body);
    if (retry)
        *retry = rc == 0 ? 0 : rs.err.retry_after_s;
    return rc == 0 ? rs.status : rs.err.status;
}

/* No payment provider: purchases are refused with 503 payment_provider_not_configured. Login
 * guard: 25 wrong passwords from 25 addresses leave the owner able to sign in from the
 * address it used before (remembered in the database, so also after a restart). */
static void test_provider_none_and_login_guard(const char *dir)
{
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = NULL,
                          .platform_fee_bps = 2000, .rate_limit_per_min = 0,
                          .login_pair_per_min = 5, .login_account_per_hour = 20};
    platform_t *p = platform_create(&pc);
    CHECK(p != NULL);
    if (!p)
        return;
    json_t *o;
    CHECK_INT(run(p, auth_register, "{\"email\":\"owner@x.io\",\"password\":\"pass word 1\","
                  "\"role\":\"caller\",\"display_name\":\"O\"}", NULL, NULL, &o), 201);
    api_auth auth = {.user_id = (uint64_t)jint(o, "user.id")};
    strcpy(auth.role, "caller");
    json_decref(o);
    CHECK_INT(run(p, purchases_create, "{\"package_id\":\"starter\"}", &auth, NULL, &o), 503);
    CHECK_STR(last_code, "payment_provider_not_configured");
    json_decref(o);
    CHECK_STR(platform_payment_provider(p), "none");

    CHECK_INT(login_from(p, "10.1.0.1", "pass word 1", NULL), 200);     /* the owner's address */
    platform_destroy(p);
    p = platform_create(&pc);                                            /* remembered on disk */
    CHECK(p != NULL);
    if (!p)
        return;
    char ip[32];
    int retry = 0, n401 = 0, n429 = 0;
    for (int i = 1; i <= 25; i++) {
        snprintf(ip, sizeof ip, "10.2.0.%d", i);
        int st = login_from(p, ip, "wrong word 1", &retry);
        n401 += st == 401;
        n429 += st == 429;
    }
    CHECK_INT(n401, 20);
    CHECK_INT(n429, 5);
    CHECK_INT(login_from(p, "10.2.0.26", "wrong word 1", &retry), 429);
    CHECK(retry > 0);
    CHECK_INT(login_from(p, "10.2.0.27", "pass word 1", &retry), 429);   /* a new address waits */
    CHECK_INT(login_from(p, "10.1.0.1", "pass word 1", NULL), 200);      /* the owner does not */
    platform_destroy(p);
}

/* 0 keeps the store's default (a zeroed config is the defaults), < 0 is no window. */
static void test_store_group_window(const char *dir)
{
    static const struct { int given; uint32_t want; } cases[] = {
        {0, STORE_GROUP_WINDOW_US}, {-1, 0}, {5000, 5000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                              .store_group_window_us = cases[i].given};
        platform_t *p = platform_create(&pc);
        CHECK(p != NULL);
        if (!p)
            return;
        store_stats_t st;
        store_stats(p->store, &st);
        CHECK_INT(st.group_window_us, cases[i].want);
        platform_destroy(p);
    }
}

int main(void)
{
    log_set_level(LOG_LEVEL_WARN);
    char dir[] = "/tmp/test_platform_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/a/b/data", dir);   /* created with its parents */
    platform_t *p = open_platform(sub);
    CHECK(p != NULL);
    if (!p)
        return check_summary("api-platform");

    json_t *o;
    CHECK_INT(run(p, auth_register, "{\"email\":\"c@x.io\",\"password\":\"pass word 1\","
                  "\"role\":\"caller\",\"display_name\":\"C\"}", NULL, NULL, &o), 201);
    uint64_t caller = (uint64_t)jint(o, "user.id");
    json_decref(o);
    CHECK_INT(run(p, auth_register, "{\"email\":\"h@x.io\",\"password\":\"pass word 1\","
                  "\"role\":\"host\",\"display_name\":\"H\"}", NULL, NULL, &o), 201);
    uint64_t host = (uint64_t)jint(o, "user.id");
    json_decref(o);
    CHECK_INT(run(p, auth_login, "{\"email\":\"h@x.io\",\"password\":\"pass word 1\","
                  "\"device_id\":\"d\"}", NULL, NULL, &o), 200);
    char token[JWT_MAX_LEN];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    CHECK_INT(run(p, auth_login, "{\"email\":\"h@x.io\",\"password\":\"wrong word 1\","
                  "\"device_id\":\"d\"}", NULL, NULL, &o), 401);
    CHECK_STR(last_code, "invalid_credentials");

    uint64_t uid = 0;
    CHECK_INT(platform_verify_access_token(p, token, &uid), 0);
    CHECK(uid == host);
    char bad[JWT_MAX_LEN];
    snprintf(bad, sizeof(bad), "%s", token);
    bad[strlen(bad) - 3] ^= 1;
    CHECK_INT(platform_verify_access_token(p, bad, &uid), -1);
    CHECK_INT(platform_verify_access_token(p, "x", &uid), -1);
    CHECK_INT(platform_verify_access_token(p, NULL, &uid), -1);

    /* money: a purchase and three minutes of a call at 10 credits with a 20% fee */
    ledger_result res;
    CHECK_INT(ledger_credit_purchase(p->store, caller, 1000, "t:buy", "t:buy", &res), 0);
    char key[64];
    for (int m = 0; m < 3; m++) {
        snprintf(key, sizeof(key), "call:1:minute:%d", m);
        CHECK_INT(ledger_charge_unit(p->store, caller, host, 10, 2000, NULL, key, "call:1", &res),
                  0);
    }
    api_auth host_auth = {.user_id = host}, caller_auth = {.user_id = caller};
    strcpy(host_auth.role, "host");
    strcpy(caller_auth.role, "caller");
    CHECK_INT(run(p, wallet_earnings, NULL, &host_auth, NULL, &o), 200);
    CHECK_INT(jint(o, "totals.earned"), 24);
    CHECK_INT(jint(o, "totals.balance"), 24);
    CHECK_INT(jint(o, "totals.charges"), 3);
    CHECK_INT(json_array_size(json_object_get(o, "per_day")), 1);
    CHECK_INT(jint(o, "per_day.0.amount"), 24);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(o, "per_call"),
                                                               0), "ref")), "call:1");
    CHECK_INT(jint(o, "per_call.0.charges"), 3);
    json_decref(o);
    CHECK_INT(run(p, wallet_get, NULL, &caller_auth, NULL, &o), 200);
    CHECK_INT(jint(o, "available"), 970);
    CHECK_INT(jint(o, "held"), 0);
    json_decref(o);
    CHECK_INT(run(p, wallet_get, NULL, &host_auth, NULL, &o), 200);
    CHECK_INT(jint(o, "earnings"), 24);
    json_decref(o);
    CHECK_INT(run(p, admin_revenue, NULL, NULL, NULL, &o), 200);
    CHECK_INT(jint(o, "platform_revenue"), 6);
    json_decref(o);
    CHECK_INT(run(p, admin_ledger_check, NULL, NULL, NULL, &o), 200);
    CHECK(json_is_true(json_object_get(o, "ok")));
    CHECK_INT(jint(o, "sum_of_balances"), 0);
    json_decref(o);

    /* presence as the core reports it, seen through GET /hosts/{id} */
    char hid[24];
    snprintf(hid, sizeof(hid), "%llu", (unsigned long long)host);
    platform_presence_session_opened(p, host);
    CHECK_INT(run(p, hosts_get, NULL, NULL, hid, &o), 200);
    CHECK_STR(json_string_value(json_object_get(json_object_get(o, "host"), "availability")),
              "online");
    json_decref(o);
    platform_presence_set_busy(p, host, true);
    CHECK_INT(run(p, hosts_get, NULL, NULL, hid, &o), 200);
    CHECK_STR(json_string_value(json_object_get(json_object_get(o, "host"), "availability")),
              "busy");
    json_decref(o);
    platform_presence_set_busy(p, host, false);
    platform_presence_session_closed(p, host);
    CHECK_INT(run(p, hosts_get, NULL, NULL, hid, &o), 200);
    CHECK_STR(json_string_value(json_object_get(json_object_get(o, "host"), "availability")),
              "offline");
    json_decref(o);
    platform_presence_session_closed(p, 0);           /* ignored */

    /* persistence: same secret, same live families after a restart */
    platform_destroy(p);
    p = open_platform(sub);
    CHECK(p != NULL);
    uid = 0;
    CHECK_INT(platform_verify_access_token(p, token, &uid), 0);
    CHECK(uid == host);
    platform_destroy(p);

    /* real expiry: 1 s tokens, real clock */
    snprintf(sub, sizeof(sub), "%s/ttl", dir);
    p = open_platform_ttl(sub, 1);
    CHECK(p != NULL);
    CHECK_INT(run(p, auth_register, "{\"email\":\"t@x.io\",\"password\":\"pass word 1\","
                  "\"role\":\"caller\",\"display_name\":\"T\"}", NULL, NULL, &o), 201);
    json_decref(o);
    CHECK_INT(run(p, auth_login, "{\"email\":\"t@x.io\",\"password\":\"pass word 1\","
                  "\"device_id\":\"d\"}", NULL, NULL, &o), 200);
    CHECK_INT(jint(o, "expires_in"), 1);
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(o, "access_token")));
    char body[200];
    snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}",
             json_string_value(json_object_get(o, "refresh_token")));
    json_decref(o);
    CHECK_INT(platform_verify_access_token(p, token, &uid), 0);
    usleep(2100 * 1000);   /* exp is whole seconds: 2.1 s is past it whatever the phase */
    CHECK_INT(platform_verify_access_token(p, token, &uid), -1);
    /* On an existing Janus session the expired token still names its live login... */
    uid = 0;
    CHECK_INT(platform_verify_session_token(p, token, &uid), 0);
    CHECK(uid != 0);
    /* ...but a tampered one never does. */
    char forged[sizeof token];
    snprintf(forged, sizeof forged, "%s", token);
    size_t flen = strlen(forged);
    forged[flen - 2] = forged[flen - 2] == 'A' ? 'B' : 'A';
    CHECK_INT(platform_verify_session_token(p, forged, &uid), -1);
    CHECK_INT(platform_verify_session_token(p, NULL, &uid), -1);
    CHECK_INT(run(p, auth_refresh, body, NULL, NULL, &o), 401);
    CHECK_STR(last_code, "refresh_token_expired");
    json_decref(o);
    platform_destroy(p);
    snprintf(sub, sizeof(sub), "%s/guard", dir);
    test_provider_none_and_login_guard(sub);
    snprintf(sub, sizeof(sub), "%s/window", dir);
    test_store_group_window(sub);

    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    return check_summary("api-platform");
}
