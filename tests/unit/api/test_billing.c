/*
 * Billing store: the operations the billing plugin submits (src/api/billing.c) against the
 * real platform, ledger and SQLite file — authorise (hold or refusal), open (locked rates),
 * charge (in order, once per minute, from the hold then the wallet, refused without funds and
 * after settle), progress, settle (release, totals, idempotent), live (unsettled meters),
 * malformed operations, the asynchronous path — and after each scenario the money invariants:
 * ledger_check ok, one billing_minutes row per charged minute, the wallet never negative.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "check.h"
#include "opcheck.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define CALL_1 "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a51"
#define CALL_2 "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a52"
#define CALL_3 "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a53"
#define CALL_4 "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a54"
#define CALL_5 "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a55"
#define CALL_6 "0b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a56"

static platform_t *plat;

static int64_t make_user(const char *email, const char *role)
{
    char body[300];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"pass word 1\",\"role\":\"%s\",\"display_name\":\"U\"}",
             email, role);
    http_request http = {.method = "POST", .path = "/", .body = body, .body_len = strlen(body), .remote_ip = "127.0.0.1"};
    api_req rq = {.p = plat, .http = &http};
    api_resp rs = {0};
    CHECK_INT(auth_register(&rq, &rs), 0);
    int64_t id = json_integer_value(json_object_get(json_object_get(rs.body, "user"), "id"));
    json_decref(rs.body);
    return id;
}

static void set_rates(int64_t host, int audio, int video)
{
    char body[128];
    snprintf(body, sizeof body, "{\"audio_rate\":%d,\"video_rate\":%d}", audio, video);
    http_request http = {.method = "PATCH", .path = "/", .body = body, .body_len = strlen(body), .remote_ip = "127.0.0.1"};
    api_req rq = {.p = plat, .http = &http, .auth = {.user_id = (uint64_t)host}};
    snprintf(rq.auth.role, sizeof rq.auth.role, "host");
    api_resp rs = {0};
    CHECK_INT(users_patch_me(&rq, &rs), 0);
    json_decref(rs.body);
}

#define op(...) opcheck_run(platform_billing_run, plat, __VA_ARGS__)

static int count_run(sqlite3 *db, void *arg)
{
    int64_t *v = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, (const char *)(intptr_t)v[1], -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    v[0] = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return 0;
}

static int64_t sql_int(const char *sql)
{
    int64_t v[2] = {0, (int64_t)(intptr_t)sql};
    CHECK_INT(store_read(plat->store, count_run, v), 0);
    return v[0];
}

static int text_run(sqlite3 *db, void *arg)
{
    char **io = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, io[0], -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(io[1], 64, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

static const char *sql_text(const char *sql)
{
    static char out[64];
    out[0] = '\0';
    char *io[2] = {(char *)sql, out};
    CHECK_INT(store_read(plat->store, text_run, io), 0);
    return out;
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
    /* one ledger charge per billed minute row, and the meters' totals are those rows' sums */
    CHECK_INT(sql_int("SELECT count(*) FROM billing_minutes WHERE amount > 0"),
              sql_int("SELECT count(*) FROM ledger_ops WHERE idempotency_key GLOB 'call:*:minute:*'"));
    CHECK_INT(sql_int("SELECT coalesce(sum(charged), 0) FROM billing_meters"),
              sql_int("SELECT coalesce(sum(amount), 0) FROM billing_minutes"));
}

static void record_call(const char *id, int64_t caller, int64_t host)
{
    char rec[256];
    snprintf(rec, sizeof rec, "{\"op\":\"create\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"video\"}",
             id, (long long)caller, (long long)host);
    CHECK_INT(platform_call_record(plat, rec), 0);
    snprintf(rec, sizeof rec, "{\"op\":\"accept\",\"call_id\":\"%s\",\"session_id\":1,\"handle_id\":2}", id);
    CHECK_INT(platform_call_record(plat, rec), 0);
}

static void test_call_life(int64_t caller, int64_t host)
{
    json_t *r = op("{\"op\":\"authorise\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"video\"}",
                   CALL_1, (long long)caller, (long long)host);
    CHECK(ok(r));
    CHECK_INT(num(r, "rate"), 45);
    CHECK_INT(num(r, "held"), 45);
    CHECK_INT(num(r, "balance"), 55);
    json_decref(r);
    record_call(CALL_1, caller, host);
    /* rates change after the authorisation; open locks the ones at accept */
    set_rates(host, 30, 40);
    r = op("{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"video\","
           "\"resume_tokens\":[\"a1\",\"b2\"]}", CALL_1, (long long)caller, (long long)host);
    CHECK(ok(r));
    CHECK_INT(num(r, "audio_rate"), 30);
    CHECK_INT(num(r, "video_rate"), 40);
    json_decref(r);
    set_rates(host, 99, 99);   /* too late for this call */

    /* minute 1 from the hold (45 held, 40 due): the rest stays held until settle */
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":1,\"kind\":\"video\",\"billable_ms\":0}", CALL_1);
    CHECK(ok(r));
    CHECK_INT(num(r, "amount"), 40);
    CHECK_INT(num(r, "host_amount") + num(r, "fee_amount"), 40);
    CHECK_INT(num(r, "fee_amount"), 8);   /* 20 % */
    CHECK_INT(num(r, "balance"), 55);
    CHECK_INT(num(r, "held"), 5);
    CHECK(!json_is_true(json_object_get(r, "replayed")));
    json_decref(r);
    /* the same minute again: the first outcome, nothing moves */
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":1,\"kind\":\"video\",\"billable_ms\":10}", CALL_1);
    CHECK(ok(r));
    CHECK(json_is_true(json_object_get(r, "replayed")));
    CHECK_INT(num(r, "balance"), 55);
    json_decref(r);
    /* minutes are charged in order */
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":3,\"kind\":\"video\"}", CALL_1);
    CHECK(!ok(r));
    CHECK_STR(reason(r), "invalid");
    json_decref(r);
    /* minute 2 at the audio rate (a downgrade applies from the next minute) */
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":2,\"kind\":\"audio\",\"billable_ms\":60000,"
           "\"last_media_ms\":1700000000000}", CALL_1);
    CHECK(ok(r));
    CHECK_INT(num(r, "amount"), 30);
    CHECK_INT(num(r, "balance"), 30);   /* 5 left in the hold paid first */
    CHECK_INT(num(r, "held"), 0);
    json_decref(r);
    /* minute 3 at video: 40 > 30 left: refused, nothing moved */
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":3,\"kind\":\"video\",\"billable_ms\":120000}", CALL_1);
    CHECK(!ok(r));
    CHECK_STR(reason(r), "insufficient_balance");
    CHECK_INT(num(r, "needed"), 40);
    CHECK_INT(num(r, "balance"), 30);
    json_decref(r);
    check_invariants("charges");

    r = op("{\"op\":\"progress\",\"call_id\":\"%s\",\"billable_ms\":125000,\"last_media_ms\":1700000005000}", CALL_1);
    CHECK(ok(r));
    json_decref(r);
    r = op("{\"op\":\"settle\",\"call_id\":\"%s\",\"reason\":\"insufficient_balance\",\"billable_ms\":125000}", CALL_1);
    CHECK(ok(r));
    CHECK_INT(num(r, "minutes_charged"), 2);
    CHECK_INT(num(r, "charged"), 70);
    CHECK_INT(num(r, "host_earned") + num(r, "platform_fee"), 70);
    CHECK_INT(num(r, "released"), 0);
    json_decref(r);
    /* settle is idempotent; no charge after it */
    r = op("{\"op\":\"settle\",\"call_id\":\"%s\",\"reason\":\"hangup\"}", CALL_1);
    CHECK(ok(r));
    CHECK_INT(num(r, "charged"), 70);
    json_decref(r);
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":3,\"kind\":\"audio\"}", CALL_1);
    CHECK(!ok(r));
    CHECK_STR(reason(r), "ended");
    json_decref(r);
    CHECK_INT(sql_int("SELECT billable_ms FROM billing_meters WHERE call_id = '" CALL_1 "'"), 125000);
    CHECK_INT(sql_int("SELECT last_media_ms FROM billing_meters WHERE call_id = '" CALL_1 "'"), 1700000005000);
    ledger_balance_t b;
    CHECK_INT(ledger_balance(plat->store, (uint64_t)caller, &b), 0);
    CHECK_INT(b.available, 30);
    CHECK_INT(b.held, 0);
    check_invariants("settle");
}

static void test_refusals(int64_t host)
{
    int64_t poor = make_user("poor@x.io", "caller");
    set_rates(host, 30, 40);
    json_t *r = op("{\"op\":\"authorise\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\"}",
                   CALL_2, (long long)poor, (long long)host);
    CHECK(!ok(r));
    CHECK_STR(reason(r), "insufficient_balance");
    CHECK_INT(num(r, "needed"), 30);
    CHECK_INT(num(r, "balance"), 0);
    json_decref(r);
    CHECK_INT(sql_int("SELECT count(*) FROM ledger_holds WHERE hold_ref = 'call:" CALL_2 "'"), 0);
    /* a call never opened: settle releases its hold only */
    r = op("{\"op\":\"settle\",\"call_id\":\"%s\",\"reason\":\"no_answer\"}", CALL_2);
    CHECK(ok(r));
    CHECK_INT(num(r, "charged"), 0);
    json_decref(r);
    /* charge without a meter, malformed operations */
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":1,\"kind\":\"audio\"}", CALL_3);
    CHECK_STR(reason(r), "not_found");
    json_decref(r);
    const char *bad[] = {"", "[]", "{\"op\":\"steal\"}", "{\"op\":\"charge\",\"call_id\":\"x\",\"minute\":1,\"kind\":\"audio\"}",
                         "{\"op\":\"charge\",\"call_id\":\"" CALL_1 "\",\"minute\":0,\"kind\":\"audio\"}",
                         "{\"op\":\"charge\",\"call_id\":\"" CALL_1 "\",\"minute\":1,\"kind\":\"smell\"}",
                         "{\"op\":\"authorise\",\"call_id\":\"" CALL_1 "\",\"caller_id\":5,\"host_id\":5,\"kind\":\"audio\"}",
                         "{\"op\":\"settle\",\"call_id\":\"" CALL_1 "\",\"reason\":\"a b\"}",
                         "{\"op\":\"open\",\"call_id\":\"" CALL_1 "\",\"caller_id\":1,\"host_id\":2,\"kind\":\"audio\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = op("%s", bad[i]);
        CHECK(!ok(r));
        CHECK_STR(reason(r), "invalid");
        json_decref(r);
    }
    check_invariants("refusals");
}

/* ---- the asynchronous path ---- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done;
    char result[512];
    pthread_t thread;
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

static json_t *submit_wait(const char *text)
{
    waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    CHECK_INT(platform_billing_submit(plat, text, on_done, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    CHECK_INT(w.done, 1);
    return json_loads(w.result, 0, NULL);
}

static void test_async_and_live(int64_t caller, int64_t host)
{
    char text[512];
    snprintf(text, sizeof text, "{\"op\":\"authorise\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\"}",
             CALL_3, (long long)caller, (long long)host);
    json_t *r = submit_wait(text);
    CHECK(ok(r));
    json_decref(r);
    record_call(CALL_3, caller, host);
    snprintf(text, sizeof text, "{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\","
             "\"resume_tokens\":[\"tc\",\"th\"]}", CALL_3, (long long)caller, (long long)host);
    json_decref(submit_wait(text));
    r = submit_wait("{\"op\":\"charge\",\"call_id\":\"" CALL_3 "\",\"minute\":1,\"kind\":\"audio\"}");
    CHECK(ok(r));
    json_decref(r);
    /* a malformed operation is answered on the same path */
    r = submit_wait("{\"op\":\"nope\"}");
    CHECK_STR(reason(r), "invalid");
    json_decref(r);
    /* the balance read is synchronous only */
    CHECK_INT(platform_billing_submit(plat, "{\"op\":\"balance\",\"user_id\":1}", on_done, NULL), -1);
    /* an unsettled meter is live (crash recovery), with its tokens */
    r = op("{\"op\":\"recover\",\"started_ms\":1}");
    json_t *calls = json_object_get(r, "calls");
    CHECK_INT(json_array_size(calls), 1);
    json_t *c = json_array_get(calls, 0);
    CHECK_STR(json_string_value(json_object_get(c, "call_id")), CALL_3);
    CHECK_INT(num(c, "minutes_charged"), 1);
    CHECK_STR(json_string_value(json_array_get(json_object_get(c, "resume_tokens"), 1)), "th");
    json_decref(r);
    json_decref(submit_wait("{\"op\":\"settle\",\"call_id\":\"" CALL_3 "\",\"reason\":\"hangup\"}"));
    r = op("{\"op\":\"recover\",\"started_ms\":1}");
    CHECK_INT(json_array_size(json_object_get(r, "calls")), 0);
    json_decref(r);
    check_invariants("async");
}

/* A crash while a call rang: its hold and its row are left open; the next start's recover
 * releases the one and ends the other, and leaves a live meter alone. */
static void test_recover_orphans(int64_t caller, int64_t host)
{
    ledger_balance_t before, after;
    CHECK_INT(ledger_balance(plat->store, (uint64_t)caller, &before), 0);
    json_t *r = op("{\"op\":\"authorise\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\"}",
                   CALL_4, (long long)caller, (long long)host);
    CHECK(ok(r));
    json_decref(r);
    char rec[256];
    snprintf(rec, sizeof rec, "{\"op\":\"create\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\"}",
             CALL_4, (long long)caller, (long long)host);
    CHECK_INT(platform_call_record(plat, rec), 0);
    /* a live meter (a resumable call) */
    record_call(CALL_5, caller, host);
    r = op("{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\","
           "\"resume_tokens\":[\"x\",\"y\"]}", CALL_5, (long long)caller, (long long)host);
    json_decref(r);
    r = op("{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":1,\"kind\":\"audio\",\"billable_ms\":3000}", CALL_5);
    CHECK(ok(r));
    json_decref(r);
    /* accepted, never connected (no minute): nothing to resume */
    r = op("{\"op\":\"authorise\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\"}",
           CALL_6, (long long)caller, (long long)host);
    json_decref(r);
    record_call(CALL_6, caller, host);
    r = op("{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\","
           "\"resume_tokens\":[\"p\",\"q\"]}", CALL_6, (long long)caller, (long long)host);
    json_decref(r);
    r = op("{\"op\":\"recover\",\"started_ms\":%lld}", (long long)(store_now_ms() + 1000));
    CHECK(ok(r));
    CHECK_INT(num(r, "unconnected_settled"), 1);
    CHECK_INT(num(r, "holds_released"), 2);   /* CALL_4's and CALL_6's */
    CHECK_INT(num(r, "calls_ended"), 4);   /* CALL_4, CALL_6, and CALL_1/CALL_3 whose rows no plugin ended here */
    CHECK_INT(json_array_size(json_object_get(r, "calls")), 1);
    json_decref(r);
    CHECK_STR(sql_text("SELECT end_reason FROM calls WHERE call_id = '" CALL_6 "'"), "server_restart");
    CHECK_STR(sql_text("SELECT end_reason FROM billing_meters WHERE call_id = '" CALL_6 "'"), "server_restart");
    CHECK_STR(sql_text("SELECT end_reason FROM calls WHERE call_id = '" CALL_4 "'"), "server_restart");
    CHECK_STR(sql_text("SELECT state FROM calls WHERE call_id = '" CALL_5 "'"), "active");
    /* the resumed call's open gives back the locked rates and its progress */
    r = op("{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\","
           "\"resume_tokens\":[\"x\",\"y\"]}", CALL_5, (long long)caller, (long long)host);
    CHECK(ok(r));
    CHECK_INT(num(r, "minutes_charged"), 1);
    CHECK_INT(num(r, "billable_ms"), 3000);
    json_decref(r);
    r = op("{\"op\":\"settle\",\"call_id\":\"%s\",\"reason\":\"server_restart\"}", CALL_5);
    CHECK(ok(r));
    json_decref(r);
    /* a settled call cannot be opened again (no resume of an ended call) */
    r = op("{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%lld,\"host_id\":%lld,\"kind\":\"audio\","
           "\"resume_tokens\":[\"x\",\"y\"]}", CALL_5, (long long)caller, (long long)host);
    CHECK_STR(reason(r), "ended");
    json_decref(r);
    CHECK_INT(ledger_balance(plat->store, (uint64_t)caller, &after), 0);
    CHECK_INT(after.held, 0);
    CHECK_INT(after.available, before.available - 30);   /* CALL_5's one minute */
    check_invariants("recover");
}

/* Holds placed at once from many threads never overspend: with 100 credits and a 30-credit
 * minute, exactly three of eight authorisations hold. */
typedef struct race_arg {
    int64_t caller, host;
    int i;
    int outcome;
} race_arg;

static void *authorise_thread(void *p)
{
    race_arg *a = p;
    char text[256];
    snprintf(text, sizeof text,
             "{\"op\":\"authorise\",\"call_id\":\"1b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a%02d\",\"caller_id\":%lld,"
             "\"host_id\":%lld,\"kind\":\"audio\"}", a->i, (long long)a->caller, (long long)a->host);
    char *out = platform_billing_run(plat, text);
    a->outcome = out && strstr(out, "\"ok\":true") ? 1 : out && strstr(out, "insufficient_balance") ? 0 : -1;
    free(out);
    return NULL;
}

static void test_concurrent_holds(int64_t host)
{
    int64_t racer = make_user("racer@x.io", "caller");
    ledger_result res;
    CHECK_INT(ledger_credit_purchase(plat->store, (uint64_t)racer, 100, "purchase:race", "race", &res), 0);
    set_rates(host, 30, 45);
    pthread_t t[8];
    race_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (race_arg){racer, host, i, -2};
        pthread_create(&t[i], NULL, authorise_thread, &a[i]);
    }
    int held = 0, refused = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        held += a[i].outcome == 1;
        refused += a[i].outcome == 0;
    }
    CHECK_INT(held, 3);
    CHECK_INT(refused, 5);
    ledger_balance_t b;
    CHECK_INT(ledger_balance(plat->store, (uint64_t)racer, &b), 0);
    CHECK_INT(b.held, 90);
    CHECK_INT(b.available, 10);
    for (int i = 0; i < 8; i++) {
        char text[160];
        snprintf(text, sizeof text,
                 "{\"op\":\"settle\",\"call_id\":\"1b8e2f6a-1c3d-4e5f-8a9b-0c1d2e3f4a%02d\",\"reason\":\"cancelled\"}", i);
        json_decref(op("%s", text));
    }
    CHECK_INT(ledger_balance(plat->store, (uint64_t)racer, &b), 0);
    CHECK_INT(b.held, 0);
    CHECK_INT(b.available, 100);
    check_invariants("concurrent holds");
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);   /* refusals log warnings by design */
    char dir[] = "/tmp/test_billing_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .auth_required = true};
    plat = platform_create(&pc);
    CHECK(plat != NULL);
    if (!plat)
        return check_summary("api-billing");
    int64_t caller = make_user("carol@x.io", "caller"), host = make_user("hana@x.io", "host");
    set_rates(host, 30, 45);
    ledger_result res;
    CHECK_INT(ledger_credit_purchase(plat->store, (uint64_t)caller, 100, "purchase:t1", "t1", &res), 0);

    test_call_life(caller, host);
    test_refusals(host);
    test_async_and_live(caller, host);
    ledger_result more;
    CHECK_INT(ledger_credit_purchase(plat->store, (uint64_t)caller, 100, "purchase:t2", "t2", &more), 0);
    test_recover_orphans(caller, host);
    test_concurrent_holds(host);

    platform_destroy(plat);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    return check_summary("api-billing");
}
