/*
 * billing: the platform's side of the billing plugin (plugins/billing) — the operations of
 * plugin.h's billing_submit/billing_run, each one store unit, and the meters they keep
 * (module "billing" in schema_migrations).
 *
 * The plugin decides *when* (the meter's rules); this file decides *how much* and moves the
 * money: rates are read from the host's profile here (at authorise, and locked at open),
 * the amount of a minute is computed here from the locked rate of the kind, and every move
 * goes through the ledger with an idempotency key made of the call id:
 *   hold "call:<id>"   placed by authorise  (key "call:<id>:hold")
 *   minute N           charged by charge    (key "call:<id>:minute:<N>", ref "call:<id>")
 *   release            by settle            (key "call:<id>:release")
 * so a retried, duplicated or replayed operation converges to one outcome.
 *
 * Tables:
 *   billing_meters   one row per accepted call: parties, locked rates and fee, kind, the
 *                    meter's progress (minutes, billable time, last media), resume tokens,
 *                    totals, settled_at. A settled meter is final (trigger).
 *   billing_minutes  one row per charged minute, PRIMARY KEY (call_id, minute): the
 *                    "one charge per call minute" invariant is a constraint, not a hope.
 *
 * Threads: platform_billing_submit from any thread but the storage thread (the done callback
 * runs on the storage thread); platform_billing_run blocks (never on a loop).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define BILLING_ID_LEN 36
#define BILLING_TOKEN_MAX 64
#define BILLING_REASON_MAX 32

static const char billing_schema_v1[] =
    "CREATE TABLE billing_meters("
    " call_id TEXT PRIMARY KEY REFERENCES calls(call_id),"
    " caller_id INTEGER NOT NULL REFERENCES users(id),"
    " host_id INTEGER NOT NULL REFERENCES users(id),"
    " audio_rate INTEGER NOT NULL CHECK (audio_rate >= 0),"
    " video_rate INTEGER NOT NULL CHECK (video_rate >= 0),"
    " fee_bps INTEGER NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),"
    " kind TEXT NOT NULL CHECK (kind IN ('audio','video')),"
    " minutes_charged INTEGER NOT NULL DEFAULT 0 CHECK (minutes_charged >= 0),"
    " charged INTEGER NOT NULL DEFAULT 0 CHECK (charged >= 0),"
    " host_earned INTEGER NOT NULL DEFAULT 0 CHECK (host_earned >= 0),"
    " platform_fee INTEGER NOT NULL DEFAULT 0 CHECK (platform_fee >= 0),"
    " billable_ms INTEGER NOT NULL DEFAULT 0 CHECK (billable_ms >= 0),"
    " last_media_ms INTEGER,"
    " resume_caller TEXT NOT NULL, resume_host TEXT NOT NULL,"
    " opened_at INTEGER NOT NULL,"
    " settled_at INTEGER,"
    " end_reason TEXT,"
    " released INTEGER NOT NULL DEFAULT 0 CHECK (released >= 0),"
    " CHECK (charged = host_earned + platform_fee),"
    " CHECK ((settled_at IS NULL) = (end_reason IS NULL))"
    ") STRICT;"
    "CREATE INDEX billing_meters_live ON billing_meters(settled_at) WHERE settled_at IS NULL;"
    "CREATE TABLE billing_minutes("
    " call_id TEXT NOT NULL REFERENCES billing_meters(call_id),"
    " minute INTEGER NOT NULL CHECK (minute >= 1),"
    " kind TEXT NOT NULL CHECK (kind IN ('audio','video')),"
    " amount INTEGER NOT NULL CHECK (amount >= 0),"
    " host_amount INTEGER NOT NULL CHECK (host_amount >= 0),"
    " fee_amount INTEGER NOT NULL CHECK (fee_amount >= 0),"
    " charged_at INTEGER NOT NULL,"
    " PRIMARY KEY (call_id, minute),"
    " CHECK (amount = host_amount + fee_amount)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TRIGGER billing_meters_settled_final BEFORE UPDATE ON billing_meters"
    " WHEN OLD.settled_at IS NOT NULL"
    " BEGIN SELECT RAISE(ABORT, 'a settled meter is final'); END;"
    "CREATE TRIGGER billing_minutes_no_update BEFORE UPDATE ON billing_minutes"
    " BEGIN SELECT RAISE(ABORT, 'billing_minutes is append-only'); END;"
    "CREATE TRIGGER billing_minutes_no_delete BEFORE DELETE ON billing_minutes"
    " BEGIN SELECT RAISE(ABORT, 'billing_minutes is append-only'); END;";

static const store_migration billing_migrations[] = {
    {"billing", 1, billing_schema_v1},
};

int billing_schema_migrate(store_t *s, char *err, size_t errcap)
{
    return store_migrate(s, billing_migrations, sizeof billing_migrations / sizeof *billing_migrations,
                         err, errcap);
}

/* ---- one operation ---- */

typedef enum billing_op {
    OP_AUTHORISE, OP_OPEN, OP_CHARGE, OP_PROGRESS, OP_SETTLE, OP_RECOVER, OP_BALANCE,
} billing_op;

static const char *const op_names[] = {"authorise", "open", "charge", "progress", "settle", "recover", "balance"};

typedef struct billing_unit {
    api_op base;                  /* first: the unit's arg is the api_op too */
    billing_op op;
    char call_id[BILLING_ID_LEN + 1];
    int64_t caller, host, user;
    bool video;
    int64_t minute, billable_ms, last_media_ms, started_ms;
    bool has_last_media;
    char reason[BILLING_REASON_MAX + 1];
    char resume[2][BILLING_TOKEN_MAX + 1];
    int fee_bps;
    int64_t now;
} billing_unit;

static int refused(billing_unit *u, const char *reason, const char *message)
{
    return api_op_refused(&u->base, reason, message);
}

static int db_failed(billing_unit *u, sqlite3 *db, const char *what)
{
    LOG_ERROR("billing", "%s %s: %s", op_names[u->op], what, sqlite3_errmsg(db));
    return api_op_outcome(&u->base, API_OP_FAILED, json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "error", "message", what));
}

static int ledger_failed(billing_unit *u, int rc, const char *what)
{
    LOG_ERROR("billing", "%s call %s: %s failed (%d)", op_names[u->op], u->call_id, what, rc);
    return api_op_outcome(&u->base, API_OP_FAILED, json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "error", "message", what));
}

static void hold_ref(const billing_unit *u, char *out, size_t n) { snprintf(out, n, "call:%s", u->call_id); }

/* The host's current rates (0 when it has no host profile). 0, or -1 on an SQL error. */
static int host_rates(sqlite3 *db, int64_t host, int64_t rate[2])
{
    rate[0] = rate[1] = 0;
    sqlite3_stmt *st = store_stmt(db, "SELECT audio_rate, video_rate FROM host_profiles WHERE user_id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, host);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rate[0] = sqlite3_column_int64(st, 0);
        rate[1] = sqlite3_column_int64(st, 1);
    }
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int unit_authorise(sqlite3 *db, billing_unit *u)
{
    int64_t rate[2];
    if (host_rates(db, u->host, rate) != 0)
        return db_failed(u, db, "host rates");
    int64_t needed = rate[u->video];
    ledger_balance_t bal;
    int rc = ledger_ensure_user_accounts_db(db, (uint64_t)u->caller, LEDGER_ROLE_CALLER);
    if (rc == 0)
        rc = ledger_balance_db(db, (uint64_t)u->caller, &bal);
    if (rc != 0)
        return ledger_failed(u, rc, "balance");
    if (needed > 0) {
        char ref[64], key[80];
        hold_ref(u, ref, sizeof ref);
        snprintf(key, sizeof key, "%s:hold", ref);
        ledger_result res;
        rc = ledger_hold_place_db(db, (uint64_t)u->caller, needed, ref, key, &res);
        if (rc == LEDGER_EFUNDS)
            return api_op_outcome(&u->base, API_OP_REFUSED,
                                json_pack("{s:b,s:s,s:I,s:I}", "ok", 0, "reason", "insufficient_balance", "needed",
                                          (json_int_t)needed, "balance", (json_int_t)bal.available));
        if (rc != 0)
            return ledger_failed(u, rc, "hold");
        if ((rc = ledger_balance_db(db, (uint64_t)u->caller, &bal)) != 0)
            return ledger_failed(u, rc, "balance");
    }
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b,s:I,s:I,s:I}", "ok", 1, "rate", (json_int_t)needed, "held",
                                              (json_int_t)needed, "balance", (json_int_t)bal.available));
}

/* The meter row of a call as the operations need it. 1 found, 0 none, -1 SQL error. */
typedef struct meter_row {
    int64_t caller, host, rate[2], minutes, charged, earned, fee, released;
    int fee_bps;
    bool settled;
} meter_row;

static int load_meter(sqlite3 *db, const char *call_id, meter_row *m)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT caller_id, host_id, audio_rate, video_rate, fee_bps, minutes_charged, "
                                      "charged, host_earned, platform_fee, settled_at IS NOT NULL, released "
                                      "FROM billing_meters WHERE call_id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, call_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *m = (meter_row){.caller = sqlite3_column_int64(st, 0),
                         .host = sqlite3_column_int64(st, 1),
                         .rate = {sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)},
                         .fee_bps = sqlite3_column_int(st, 4),
                         .minutes = sqlite3_column_int64(st, 5),
                         .charged = sqlite3_column_int64(st, 6),
                         .earned = sqlite3_column_int64(st, 7),
                         .fee = sqlite3_column_int64(st, 8),
                         .settled = sqlite3_column_int(st, 9) != 0,
                         .released = sqlite3_column_int64(st, 10)};
    store_stmt_release(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int run_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    store_stmt_release(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int meter_progress(sqlite3 *db, const char *call_id, int64_t *billable)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT billable_ms FROM billing_meters WHERE call_id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, call_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *billable = sqlite3_column_int64(st, 0);
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int unit_open(sqlite3 *db, billing_unit *u)
{
    meter_row m;
    int found = load_meter(db, u->call_id, &m);
    if (found < 0)
        return db_failed(u, db, "meter");
    if (found) {   /* a replay: the rates were locked by the first open */
        if (m.caller != u->caller || m.host != u->host)
            return refused(u, "invalid", "the call has other parties");
    } else {
        if (host_rates(db, u->host, m.rate) != 0)
            return db_failed(u, db, "host rates");
        m.fee_bps = u->fee_bps;
        sqlite3_stmt *st = store_stmt(db, "INSERT INTO billing_meters(call_id, caller_id, host_id, audio_rate, "
                                          "video_rate, fee_bps, kind, resume_caller, resume_host, opened_at) "
                                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        if (!st)
            return db_failed(u, db, "open");
        sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, u->caller);
        sqlite3_bind_int64(st, 3, u->host);
        sqlite3_bind_int64(st, 4, m.rate[0]);
        sqlite3_bind_int64(st, 5, m.rate[1]);
        sqlite3_bind_int(st, 6, m.fee_bps);
        sqlite3_bind_text(st, 7, u->video ? "video" : "audio", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, u->resume[0], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, u->resume[1], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, u->now);
        if (run_done(st) != 0)
            return db_failed(u, db, "open");
    }
    if (found && m.settled)
        return refused(u, "ended", "the call was settled");
    int64_t billable = 0;
    if (found && meter_progress(db, u->call_id, &billable) != 0)
        return db_failed(u, db, "meter");
    return api_op_outcome(&u->base, API_OP_OK,
                        json_pack("{s:b,s:I,s:I,s:i,s:I,s:I,s:I,s:I}", "ok", 1, "audio_rate", (json_int_t)m.rate[0],
                                  "video_rate", (json_int_t)m.rate[1], "fee_bps", m.fee_bps, "minutes_charged",
                                  (json_int_t)(found ? m.minutes : 0), "charged", (json_int_t)(found ? m.charged : 0),
                                  "host_earned", (json_int_t)(found ? m.earned : 0), "billable_ms",
                                  (json_int_t)billable));
}

static int balance_outcome(sqlite3 *db, billing_unit *u, int rc_unit, json_t *o)
{
    ledger_balance_t bal;
    int rc = ledger_balance_db(db, (uint64_t)u->caller, &bal);
    if (rc != 0) {
        json_decref(o);
        return ledger_failed(u, rc, "balance");
    }
    json_object_set_new(o, "balance", json_integer(bal.available));
    json_object_set_new(o, "held", json_integer(bal.held));
    return api_op_outcome(&u->base, rc_unit, o);
}

static int save_progress(sqlite3 *db, billing_unit *u)
{
    sqlite3_stmt *st = store_stmt(db, "UPDATE billing_meters SET billable_ms = max(billable_ms, ?2), "
                                      "last_media_ms = CASE WHEN ?3 IS NULL THEN last_media_ms "
                                      "ELSE max(coalesce(last_media_ms, 0), ?3) END WHERE call_id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->billable_ms);
    if (u->has_last_media)
        sqlite3_bind_int64(st, 3, u->last_media_ms);
    return run_done(st);
}

static int record_minute(sqlite3 *db, billing_unit *u, const ledger_result *res, int64_t amount)
{
    sqlite3_stmt *st = store_stmt(db, "INSERT INTO billing_minutes(call_id, minute, kind, amount, host_amount, "
                                      "fee_amount, charged_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->minute);
    sqlite3_bind_text(st, 3, u->video ? "video" : "audio", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, amount);
    sqlite3_bind_int64(st, 5, res->host_amount);
    sqlite3_bind_int64(st, 6, res->fee_amount);
    sqlite3_bind_int64(st, 7, u->now);
    if (run_done(st) != 0)
        return -1;
    if (!(st = store_stmt(db, "UPDATE billing_meters SET minutes_charged = max(minutes_charged, ?2), "
                              "charged = charged + ?3, host_earned = host_earned + ?4, "
                              "platform_fee = platform_fee + ?5, kind = ?6 WHERE call_id = ?1")))
        return -1;
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->minute);
    sqlite3_bind_int64(st, 3, amount);
    sqlite3_bind_int64(st, 4, res->host_amount);
    sqlite3_bind_int64(st, 5, res->fee_amount);
    sqlite3_bind_text(st, 6, u->video ? "video" : "audio", -1, SQLITE_STATIC);
    return run_done(st);
}

/* The minute already charged, if it was: 1 (res filled from its row), 0 not yet, -1 error. */
static int minute_charged(sqlite3 *db, const billing_unit *u, ledger_result *res, int64_t *amount)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT amount, host_amount, fee_amount FROM billing_minutes "
                                      "WHERE call_id = ?1 AND minute = ?2");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->minute);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *amount = sqlite3_column_int64(st, 0);
        *res = (ledger_result){.amount = *amount, .host_amount = sqlite3_column_int64(st, 1),
                               .fee_amount = sqlite3_column_int64(st, 2), .replayed = true};
    }
    store_stmt_release(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static json_t *charge_result(const ledger_result *res, int64_t amount)
{
    return json_pack("{s:b,s:I,s:I,s:I,s:b}", "ok", 1, "amount", (json_int_t)amount, "host_amount",
                     (json_int_t)res->host_amount, "fee_amount", (json_int_t)res->fee_amount, "replayed",
                     res->replayed);
}

/* The call's meter into m: true, or false with the unit's outcome in *rc. */
static bool need_meter(sqlite3 *db, billing_unit *u, meter_row *m, int *rc)
{
    int found = load_meter(db, u->call_id, m);
    if (found < 0)
        *rc = db_failed(u, db, "meter");
    else if (!found)
        *rc = refused(u, "not_found", "no meter for this call");
    return found > 0;
}

static int unit_charge(sqlite3 *db, billing_unit *u)
{
    meter_row m;
    int rc;
    if (!need_meter(db, u, &m, &rc))
        return rc;
    u->caller = m.caller;
    ledger_result res = {0};
    int64_t amount = 0;
    int done = minute_charged(db, u, &res, &amount);
    if (done < 0)
        return db_failed(u, db, "minute");
    if (done)   /* charged before: the first outcome, nothing moves */
        return balance_outcome(db, u, API_OP_OK, charge_result(&res, amount));
    if (m.settled)
        return balance_outcome(db, u, API_OP_REFUSED,
                               json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "ended", "message", "the call was settled"));
    if (u->minute != m.minutes + 1)
        return refused(u, "invalid", "minutes are charged in order");
    amount = m.rate[u->video];
    if (amount > 0) {
        char ref[64], key[96];
        hold_ref(u, ref, sizeof ref);
        snprintf(key, sizeof key, "%s:minute:%" PRId64, ref, u->minute);
        ledger_hold_info hold;
        int hrc = ledger_hold_get_db(db, ref, &hold);
        const char *use_hold = hrc == 0 ? ref : NULL;
        if (hrc == 0 && hold.closed)
            return balance_outcome(db, u, API_OP_REFUSED,
                                   json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "ended", "message", "the hold is closed"));
        rc = ledger_charge_unit_db(db, (uint64_t)m.caller, (uint64_t)m.host, amount, m.fee_bps, use_hold, key, ref,
                                   &res);
        if (rc == LEDGER_EFUNDS)
            return balance_outcome(db, u, API_OP_REFUSED,
                                   json_pack("{s:b,s:s,s:I}", "ok", 0, "reason", "insufficient_balance", "needed",
                                             (json_int_t)amount));
        if (rc == LEDGER_ESTATE)
            return balance_outcome(db, u, API_OP_REFUSED,
                                   json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "ended", "message", "the hold is closed"));
        if (rc != 0)
            return ledger_failed(u, rc, "charge");
    }
    if (record_minute(db, u, &res, amount) != 0 || save_progress(db, u) != 0)
        return db_failed(u, db, "minute");
    return balance_outcome(db, u, API_OP_OK, charge_result(&res, amount));
}

static int unit_progress(sqlite3 *db, billing_unit *u)
{
    meter_row m;
    int rc;
    if (!need_meter(db, u, &m, &rc))
        return rc;
    if (m.settled)   /* late progress of a settled call changes nothing */
        return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b}", "ok", 1));
    if (save_progress(db, u) != 0)
        return db_failed(u, db, "progress");
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b}", "ok", 1));
}

static int unit_settle(sqlite3 *db, billing_unit *u)
{
    char ref[64], key[80];
    hold_ref(u, ref, sizeof ref);
    snprintf(key, sizeof key, "%s:release", ref);
    ledger_result res = {0};
    int rc = ledger_hold_release_db(db, ref, key, &res);
    if (rc == LEDGER_ENOTFOUND)   /* nothing was held (a free host, or no authorise) */
        rc = 0;
    if (rc != 0)
        return ledger_failed(u, rc, "release");
    meter_row m = {0};
    int found = load_meter(db, u->call_id, &m);
    if (found < 0)
        return db_failed(u, db, "meter");
    if (found && !m.settled) {
        if (u->has_last_media || u->billable_ms)
            if (save_progress(db, u) != 0)
                return db_failed(u, db, "progress");
        sqlite3_stmt *st = store_stmt(db, "UPDATE billing_meters SET settled_at = ?2, end_reason = ?3, "
                                          "released = ?4 WHERE call_id = ?1");
        if (!st)
            return db_failed(u, db, "settle");
        sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, u->now);
        sqlite3_bind_text(st, 3, u->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, res.amount);
        if (run_done(st) != 0)
            return db_failed(u, db, "settle");
        m.released = res.amount;
    }
    return api_op_outcome(&u->base, API_OP_OK,
                        json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "ok", 1, "released",
                                  (json_int_t)(found ? m.released : res.amount), "minutes_charged",
                                  (json_int_t)m.minutes, "charged", (json_int_t)m.charged, "host_earned",
                                  (json_int_t)m.earned, "platform_fee", (json_int_t)m.fee));
}

/* Holds of calls a previous run authorised and never settled, whose meter is not live (the
 * server stopped while they rang): released. Only holds from before this run started. */
static int release_orphan_holds(sqlite3 *db, billing_unit *u, int64_t *released)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT hold_ref FROM ledger_holds WHERE state = 'open' AND created_at < ?1 "
                                      "AND hold_ref GLOB 'call:*' AND substr(hold_ref, 6) NOT IN "
                                      "(SELECT call_id FROM billing_meters WHERE settled_at IS NULL)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->started_ms);
    char refs[64][64];
    size_t n = 0;
    int rc;
    while (n < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        snprintf(refs[n++], sizeof refs[0], "%s", (const char *)sqlite3_column_text(st, 0));
    store_stmt_release(st);
    for (size_t i = 0; i < n; i++) {
        char key[96];
        snprintf(key, sizeof key, "%.63s:release", refs[i]);
        ledger_result res;
        if (ledger_hold_release_db(db, refs[i], key, &res) != 0)
            return -1;
    }
    *released += (int64_t)n;
    return n == 64 ? 1 : 0;   /* 1: more to do */
}

/* Meters of calls accepted before started_ms whose media never came up (no minute charged):
 * nothing to resume; settled now (hold released, totals zero). */
static int settle_unconnected(sqlite3 *db, billing_unit *u, int64_t *settled)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT call_id FROM billing_meters WHERE settled_at IS NULL AND "
                                      "minutes_charged = 0 AND opened_at < ?1 LIMIT 64");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->started_ms);
    char ids[64][BILLING_ID_LEN + 1];
    size_t n = 0;
    while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
        snprintf(ids[n++], sizeof ids[0], "%.36s", (const char *)sqlite3_column_text(st, 0));
    store_stmt_release(st);
    for (size_t i = 0; i < n; i++) {
        billing_unit one = {.op = OP_SETTLE, .now = u->now};
        memcpy(one.call_id, ids[i], sizeof one.call_id);
        snprintf(one.reason, sizeof one.reason, "server_restart");
        int rc = unit_settle(db, &one);
        json_decref(one.base.result);
        if (rc != API_OP_OK)
            return -1;
    }
    *settled += (int64_t)n;
    return n == 64 ? 1 : 0;
}

static int unit_recover(sqlite3 *db, billing_unit *u)
{
    int64_t released = 0, ended = 0, unconnected = 0;
    int more;
    while ((more = settle_unconnected(db, u, &unconnected)) == 1)
        ;
    if (more < 0)
        return db_failed(u, db, "unconnected meters");
    while ((more = release_orphan_holds(db, u, &released)) == 1)
        ;
    if (more < 0)
        return db_failed(u, db, "orphan holds");
    if (calls_end_stale_db(db, u->started_ms, u->now, &ended) != 0)
        return db_failed(u, db, "stale calls");
    sqlite3_stmt *st = store_stmt(db, "SELECT call_id, caller_id, host_id, kind, audio_rate, video_rate, "
                                      "minutes_charged, charged, billable_ms, last_media_ms, resume_caller, "
                                      "resume_host FROM billing_meters WHERE settled_at IS NULL");
    if (!st)
        return db_failed(u, db, "live");
    json_t *calls = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(
            calls, json_pack("{s:s,s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:[s,s]}", "call_id",
                             (const char *)sqlite3_column_text(st, 0), "caller_id",
                             (json_int_t)sqlite3_column_int64(st, 1), "host_id", (json_int_t)sqlite3_column_int64(st, 2),
                             "kind", (const char *)sqlite3_column_text(st, 3), "audio_rate",
                             (json_int_t)sqlite3_column_int64(st, 4), "video_rate",
                             (json_int_t)sqlite3_column_int64(st, 5), "minutes_charged",
                             (json_int_t)sqlite3_column_int64(st, 6), "charged", (json_int_t)sqlite3_column_int64(st, 7),
                             "billable_ms", (json_int_t)sqlite3_column_int64(st, 8), "last_media_ms",
                             (json_int_t)sqlite3_column_int64(st, 9), "resume_tokens",
                             (const char *)sqlite3_column_text(st, 10), (const char *)sqlite3_column_text(st, 11)));
    store_stmt_release(st);
    if (rc != SQLITE_DONE) {
        json_decref(calls);
        return db_failed(u, db, "live");
    }
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b,s:o,s:I,s:I,s:I}", "ok", 1, "calls", calls, "holds_released",
                                              (json_int_t)(released + unconnected), "calls_ended", (json_int_t)ended,
                                              "unconnected_settled", (json_int_t)unconnected));
}

static int unit_balance(sqlite3 *db, void *arg)
{
    billing_unit *u = arg;
    ledger_balance_t bal;
    int rc = ledger_balance_db(db, (uint64_t)u->user, &bal);
    if (rc != 0)
        return ledger_failed(u, rc, "balance");
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b,s:I,s:I}", "ok", 1, "available", (json_int_t)bal.available,
                                              "held", (json_int_t)bal.held));
}

static int billing_unit_run(sqlite3 *db, void *arg)
{
    billing_unit *u = arg;
    u->now = store_now_ms();
    switch (u->op) {
    case OP_AUTHORISE: return unit_authorise(db, u);
    case OP_OPEN: return unit_open(db, u);
    case OP_CHARGE: return unit_charge(db, u);
    case OP_PROGRESS: return unit_progress(db, u);
    case OP_SETTLE: return unit_settle(db, u);
    case OP_RECOVER: return unit_recover(db, u);
    case OP_BALANCE: return unit_balance(db, u);
    }
    return refused(u, "invalid", "unknown op");
}

/* ---- parsing ---- */

static bool get_id(json_t *b, const char *name, int64_t *out)
{
    json_t *v = json_object_get(b, name);
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool get_nonneg(json_t *b, const char *name, int64_t *out)
{
    json_t *v = json_object_get(b, name);
    if (!v) {
        *out = 0;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool get_call_id(json_t *b, char out[BILLING_ID_LEN + 1])
{
    const char *s = json_string_value(json_object_get(b, "call_id"));
    if (!s || strlen(s) != BILLING_ID_LEN)
        return false;
    for (size_t i = 0; i < BILLING_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    memcpy(out, s, BILLING_ID_LEN + 1);
    return true;
}

static bool get_kind(json_t *b, bool *video)
{
    const char *k = json_string_value(json_object_get(b, "kind"));
    if (!k || (strcmp(k, "audio") != 0 && strcmp(k, "video") != 0))
        return false;
    *video = strcmp(k, "video") == 0;
    return true;
}

static bool get_word(json_t *b, const char *name, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(b, name));
    if (!s || !s[0] || strlen(s) >= cap)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            return false;
    snprintf(out, cap, "%s", s);
    return true;
}

static bool parse_progress(json_t *b, billing_unit *u)
{
    json_t *lm = json_object_get(b, "last_media_ms");
    u->has_last_media = lm && !json_is_null(lm);
    return get_nonneg(b, "billable_ms", &u->billable_ms) && (!u->has_last_media || get_nonneg(b, "last_media_ms", &u->last_media_ms));
}

/* 0, or -1 with a message in *why. */
static int parse_op(const char *text, billing_unit *u, const char **why)
{
    json_error_t jerr;
    json_t *b = text ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int rc = -1;
    const char *op = json_string_value(json_object_get(b, "op"));
    *why = "not an operation";
    if (!op)
        goto out;
    size_t i = 0;
    while (i < sizeof op_names / sizeof *op_names && strcmp(op_names[i], op) != 0)
        i++;
    if (i == sizeof op_names / sizeof *op_names) {
        *why = "unknown op";
        goto out;
    }
    u->op = (billing_op)i;
    *why = "bad parameters";
    switch (u->op) {
    case OP_AUTHORISE:
        rc = get_call_id(b, u->call_id) && get_id(b, "caller_id", &u->caller) && get_id(b, "host_id", &u->host) &&
                     get_kind(b, &u->video) && u->caller != u->host ? 0 : -1;
        break;
    case OP_OPEN: {
        json_t *tokens = json_object_get(b, "resume_tokens");
        rc = get_call_id(b, u->call_id) && get_id(b, "caller_id", &u->caller) && get_id(b, "host_id", &u->host) &&
                     get_kind(b, &u->video) && u->caller != u->host && json_array_size(tokens) == 2
                 ? 0 : -1;
        if (rc == 0) {
            for (int k = 0; k < 2 && rc == 0; k++) {
                const char *t = json_string_value(json_array_get(tokens, (size_t)k));
                rc = t && t[0] && strlen(t) <= BILLING_TOKEN_MAX ? 0 : -1;
                if (rc == 0)
                    snprintf(u->resume[k], sizeof u->resume[k], "%s", t);
            }
        }
        break;
    }
    case OP_CHARGE:
        rc = get_call_id(b, u->call_id) && get_id(b, "minute", &u->minute) && get_kind(b, &u->video) &&
                     parse_progress(b, u)
                 ? 0 : -1;
        break;
    case OP_PROGRESS:
        rc = get_call_id(b, u->call_id) && parse_progress(b, u) ? 0 : -1;
        break;
    case OP_SETTLE:
        rc = get_call_id(b, u->call_id) && get_word(b, "reason", u->reason, sizeof u->reason) && parse_progress(b, u)
                 ? 0 : -1;
        break;
    case OP_RECOVER:
        rc = get_id(b, "started_ms", &u->started_ms) ? 0 : -1;
        break;
    case OP_BALANCE:
        rc = get_id(b, "user_id", &u->user) ? 0 : -1;
        break;
    }
out:
    json_decref(b);
    return rc;
}

static void unit_release(api_op *op)
{
    free(op);
}

static billing_unit *unit_new(platform_t *p, const char *op_json, char **invalid)
{
    billing_unit *u = calloc(1, sizeof *u);
    const char *why = "out of memory";
    if (!u || parse_op(op_json, u, &why) != 0) {
        LOG_WARN("billing", "operation refused: %s: %.200s", why, op_json ? op_json : "(null)");
        *invalid = api_op_invalid(why);
        free(u);
        return NULL;
    }
    u->base.run = billing_unit_run;
    u->base.read_only = u->op == OP_BALANCE;
    u->base.release = unit_release;
    u->fee_bps = p->fee_bps;
    return u;
}

char *platform_billing_run(platform_t *p, const char *op_json)
{
    if (!p)
        return NULL;
    char *invalid = NULL;
    billing_unit *u = unit_new(p, op_json, &invalid);
    return u ? api_op_run(p->store, &u->base) : invalid;
}

int platform_billing_submit(platform_t *p, const char *op_json, void (*done)(void *arg, const char *result_json),
                            void *arg)
{
    return api_submit_text(platform_billing_submit_deferred, p, op_json, done, arg);
}

int platform_billing_submit_deferred(platform_t *p, const char *op_json, platform_deferred_fn done, void *arg)
{
    if (!p || !done)
        return -1;
    char *invalid = NULL;
    billing_unit *u = unit_new(p, op_json, &invalid);
    if (!u) {   /* still answered, on the same path as any outcome */
        api_op_answer_now(done, arg, invalid);
        return 0;
    }
    if (u->op == OP_BALANCE) {   /* a read: synchronous only */
        api_op_free(&u->base);
        return -1;
    }
    return api_op_submit(p->store, &u->base, done, arg);
}
