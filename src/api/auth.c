/*
 * auth: registration, login per device, refresh-token rotation with reuse detection, logout
 * and device management (SPEC 3.2).
 *
 * Tokens: the access token is an HS256 JWT (sub, role, did, fam, iat, exp, jti). The refresh
 * token is 32 random bytes (base64url) of which only the SHA-256 is stored. Each login creates
 * a device row with a new "family"; every refresh token of that login belongs to it. A
 * refresh marks the presented token used and issues the next one; presenting a used token
 * again means it leaked (or a client raced itself), so the whole family is revoked — that
 * device must log in again, and its access tokens stop working at once (api_families).
 *
 * Expensive work (scrypt) runs on the HTTP thread before the write unit, never on the
 * storage thread. Every request's writes are one store_write unit.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "api/jwt.h"
#include "api/password.h"
#include "api/validate.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define REFRESH_BYTES 32
#define REFRESH_B64_LEN 43

/* ---- shared pieces ---- */

static void auth_hash_token(const char *token, uint8_t out[SHA256_DIGEST_LENGTH])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

static int auth_issue_access(platform_t *p, uint64_t uid, const char *role, const char *did,
                             const char *fam, char *out, size_t cap)
{
    jwt_claims c = {.sub = uid};
    snprintf(c.role, sizeof(c.role), "%s", role);
    snprintf(c.did, sizeof(c.did), "%s", did);
    snprintf(c.fam, sizeof(c.fam), "%s", fam);
    api_random_b64(c.jti, sizeof(c.jti), 12);
    c.iat = (int64_t)time(NULL);
    c.exp = c.iat + p->access_ttl_s;
    return jwt_encode_claims(p->secret, p->secret_len, &c, out, cap);
}

static int auth_insert_refresh(sqlite3 *db, const char *token, const char *family,
                               uint64_t uid, int64_t now, int64_t ttl_ms)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    auth_hash_token(token, h);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO refresh_tokens(token_hash, family, user_id, "
                           "created_at, expires_at) VALUES(?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)uid);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now + ttl_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* Revokes a family (device row) if live; returns 1 if it was live, 0 if not, -1 on error. */
static int auth_revoke_family_db(sqlite3 *db, const char *family, const char *reason,
                                 int64_t now)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE devices SET revoked_at = ?, revoke_reason = ? "
                           "WHERE family = ? AND revoked_at IS NULL", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, family, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(db) > 0) : -1;
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    /* A dead session receives no notifications. */
    if (sqlite3_prepare_v2(db, "DELETE FROM push_tokens WHERE family = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, family, -1, SQLITE_STATIC);
    int drc = sqlite3_step(st);
    sqlite3_finalize(st);
    return drc == SQLITE_DONE ? rc : -1;
}

static json_t *auth_token_pair(platform_t *p, const char *access, const char *refresh,
                               json_t *user)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "access_token", access, "refresh_token",
                          refresh, "token_type", "Bearer", "expires_in", p->access_ttl_s,
                          "refresh_expires_in", p->refresh_ttl_s);
    if (user)
        json_object_set_new(o, "user", user);
    return o;
}

/* ---- register ---- */

typedef struct register_unit {
    const char *email, *hash, *role, *name;
    int64_t now;
    int outcome;          /* 0 created, 1 duplicate email, -1 error */
    json_t *user;
} register_unit;

static int register_run(sqlite3 *db, void *arg)
{
    register_unit *u = arg;
    sqlite3_stmt *st;
    u->outcome = -1;
    if (sqlite3_prepare_v2(db, "INSERT INTO users(email, password_hash, role, display_name, "
                           "created_at, updated_at) VALUES(?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, u->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, u->now);
    sqlite3_bind_int64(st, 6, u->now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        u->outcome = 1;
        return 1;
    }
    if (rc != SQLITE_DONE)
        return -1;
    uint64_t id = (uint64_t)sqlite3_last_insert_rowid(db);
    bool host = strcmp(u->role, "host") == 0;
    if (host && store_exec(db, "INSERT INTO host_profiles(user_id) "
                               "VALUES(last_insert_rowid())") != SQLITE_OK)
        return -1;
    if (ledger_ensure_user_accounts_db(db, id, host ? LEDGER_ROLE_HOST : LEDGER_ROLE_CALLER) != 0)
        return -1;
    u->user = users_load_json(db, id, true);
    if (!u->user)
        return -1;
    u->outcome = 0;
    return 0;
}

int auth_register(api_req *rq, api_resp *rs)
{
    api_error *err = &rs->err;
    json_t *b = api_body(rq, err);
    if (!b)
        return -1;
    const char *email, *pw, *role, *name;
    char norm[VALIDATE_EMAIL_MAX + 1];
    static const char *const fields[] = {"email", "password", "role", "display_name", NULL};
    int rc = -1;
    if (apijson_only_fields(b, fields, err) || apijson_string(b, "email", true, &email, err) ||
        apijson_string(b, "password", true, &pw, err) ||
        apijson_string(b, "role", true, &role, err) ||
        apijson_string(b, "display_name", true, &name, err))
        goto out;
    if (validate_email(email, norm, sizeof(norm)) != 0) {
        api_fail(err, 422, "invalid_email", "email address is not valid");
        goto out;
    }
    if (strcmp(role, "caller") != 0 && strcmp(role, "host") != 0) {
        api_fail(err, 422, "invalid_value", "role must be \"caller\" or \"host\"");
        goto out;
    }
    if (validate_text(name, 1, 64, 0) != 0) {
        api_fail(err, 422, "invalid_value", "display_name must be 1..64 printable characters");
        goto out;
    }
    if (validate_password(pw) != 0) {
        api_fail(err, 422, "weak_password", "password must have 8..128 characters of at "
                 "least two kinds (letters, digits, other)");
        goto out;
    }
    if (api_rate_check(rq->p, "register-ip", rq->http->remote_ip, err) ||
        api_rate_check(rq->p, "register-acct", norm, err))
        goto out;
    char hash[PASSWORD_STORED_MAX];
    if (password_hash(pw, rq->p->kdf_cost, hash, sizeof(hash)) != 0) {
        api_fail(err, 500, "internal", "password hashing failed");
        goto out;
    }
    register_unit u = {.email = norm, .hash = hash, .role = role, .name = name,
                       .now = store_now_ms()};
    int src = store_write(rq->p->store, register_run, &u);
    if (src == 1 && u.outcome == 1) {
        api_fail(err, 409, "email_taken", "an account with this email already exists");
    } else if (src != 0) {
        json_decref(u.user);
        api_store_error(err, src);
    } else {
        rc = api_ok(rs, 201, json_pack("{s:o}", "user", u.user));
    }
out:
    json_decref(b);
    return rc;
}

/* ---- login ---- */

/* Addresses remembered per user for the login guard: the most recent successful ones. */
#define LOGIN_KNOWN_ADDRS 16

typedef struct login_lookup {
    const char *email;
    const char *addr;
    bool found;
    bool known_addr;      /* addr signed in to this account before */
    uint64_t id;
    char role[16];
    char hash[PASSWORD_STORED_MAX];
} login_lookup;

static int login_lookup_run(sqlite3 *db, void *arg)
{
    login_lookup *l = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id, role, password_hash FROM users WHERE email = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, l->email, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        l->found = true;
        l->id = (uint64_t)sqlite3_column_int64(st, 0);
        api_sql_text(st, 1, l->role, sizeof(l->role));
        api_sql_text(st, 2, l->hash, sizeof(l->hash));
    }
    sqlite3_finalize(st);
    if (!l->found)
        return 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM login_addresses WHERE user_id = ? AND addr = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)l->id);
    sqlite3_bind_text(st, 2, l->addr, -1, SQLITE_STATIC);
    l->known_addr = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return 0;
}

/* Remembers addr as one the user signed in from (the login guard does not count failures
 * from it against the account), keeping the LOGIN_KNOWN_ADDRS most recent. */
static int login_remember_addr(sqlite3 *db, uint64_t uid, const char *addr, int64_t now)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO login_addresses(user_id, addr, last_ok_at) "
                           "VALUES(?,?,?) ON CONFLICT(user_id, addr) DO UPDATE SET "
                           "last_ok_at = excluded.last_ok_at", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)uid);
    sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_prepare_v2(db, "DELETE FROM login_addresses WHERE user_id = ?1 AND addr NOT IN "
                           "(SELECT addr FROM login_addresses WHERE user_id = ?1 "
                           "ORDER BY last_ok_at DESC, addr LIMIT ?2)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)uid);
    sqlite3_bind_int(st, 2, LOGIN_KNOWN_ADDRS);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

typedef struct login_unit {
    uint64_t uid;
    const char *device_id, *device_name, *family, *refresh;
    const char *old_hash, *new_hash;   /* new_hash != NULL: upgrade to the configured cost */
    const char *addr;                  /* client address, remembered for the login guard */
    int64_t now, ttl_ms;
    char old_family[API_FAMILY_LEN + 8];
    json_t *user;
} login_unit;

static int login_run(sqlite3 *db, void *arg)
{
    login_unit *u = arg;
    sqlite3_stmt *st;
    u->old_family[0] = '\0';
    /* A new login on the same device replaces its previous session. */
    if (sqlite3_prepare_v2(db, "SELECT family FROM devices WHERE user_id = ? AND device_id = ? "
                           "AND revoked_at IS NULL", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)u->uid);
    sqlite3_bind_text(st, 2, u->device_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        api_sql_text(st, 0, u->old_family, sizeof(u->old_family));
    sqlite3_finalize(st);
    if (u->old_family[0] && auth_revoke_family_db(db, u->old_family, "relogin", u->now) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, "INSERT INTO devices(user_id, device_id, name, family, "
                           "created_at, last_seen_at) VALUES(?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)u->uid);
    sqlite3_bind_text(st, 2, u->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->device_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, u->now);
    sqlite3_bind_int64(st, 6, u->now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (auth_insert_refresh(db, u->refresh, u->family, u->uid, u->now, u->ttl_ms) != 0)
        return -1;
    if (u->addr && u->addr[0] && login_remember_addr(db, u->uid, u->addr, u->now) != 0)
        return -1;
    /* Expired refresh tokens can never be presented successfully again (nor detect reuse:
     * expiry is checked first), so they go, a few per login to keep units small. */
    if (sqlite3_prepare_v2(db, "DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM "
                           "refresh_tokens WHERE expires_at < ? LIMIT 16)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, u->now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (u->new_hash) {
        /* Only if the password did not change meanwhile (compare-and-set on the old hash). */
        if (sqlite3_prepare_v2(db, "UPDATE users SET password_hash = ? WHERE id = ? AND "
                               "password_hash = ?", -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_text(st, 1, u->new_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)u->uid);
        sqlite3_bind_text(st, 3, u->old_hash, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    u->user = users_load_json(db, u->uid, true);
    return u->user ? 0 : -1;
}

int auth_login(api_req *rq, api_resp *rs)
{
    api_error *err = &rs->err;
    platform_t *p = rq->p;
    json_t *b = api_body(rq, err);
    if (!b)
        return -1;
    const char *email, *pw, *did, *dname;
    char norm[VALIDATE_EMAIL_MAX + 1];
    static const char *const fields[] = {"email", "password", "device_id", "device_name", NULL};
    int rc = -1;
    if (apijson_only_fields(b, fields, err) || apijson_string(b, "email", true, &email, err) ||
        apijson_string(b, "password", true, &pw, err) ||
        apijson_string(b, "device_id", true, &did, err) ||
        apijson_string(b, "device_name", false, &dname, err))
        goto out;
    if (validate_device_id(did) != 0) {
        api_fail(err, 422, "invalid_value", "device_id must be 1..128 of [A-Za-z0-9._:-]");
        goto out;
    }
    if (!dname)
        dname = did;
    if (validate_text(dname, 1, 64, 0) != 0) {
        api_fail(err, 422, "invalid_value", "device_name must be 1..64 printable characters");
        goto out;
    }
    /* A malformed email cannot match an account: same answer as a wrong password. */
    bool email_ok = validate_email(email, norm, sizeof(norm)) == 0;
    const char *addr = rq->http->remote_ip ? rq->http->remote_ip : "";
    const char *acct = email_ok ? norm : email;
    /* Every attempt counts against the address (across accounts); wrong passwords count
     * against the (account, address) pair and, from addresses that never signed in to this
     * account, against the account (ratelimit.h, login_guard). */
    if (api_rate_check(p, "login-ip", addr, err))
        goto out;
    login_lookup l = {.email = norm, .addr = addr};
    if (email_ok) {
        int src = store_read(p->store, login_lookup_run, &l);
        if (src != 0) {
            api_store_error(err, src);
            goto out;
        }
    }
    int64_t t0 = api_monotonic_ms();
    int wait = login_guard_begin(p->login_guard, acct, addr, l.known_addr, t0);
    if (wait > 0) {
        api_fail(err, 429, "rate_limited", "too many attempts; retry in %d s", wait);
        err->retry_after_s = wait;
        goto out;
    }
    /* Unknown accounts cost one scrypt too, so timing does not reveal which emails exist.
     * No stored password is longer than 128 bytes: longer input cannot match. */
    int match = strlen(pw) > 128 ? 0 : password_verify(pw, l.found ? l.hash : p->dummy_hash);
    bool success = l.found && match == 1;
    login_guard_end(p->login_guard, acct, addr, l.known_addr, success, api_monotonic_ms());
    if (!success) {
        api_fail(err, 401, "invalid_credentials", "email or password is wrong");
        goto out;
    }
    char family[API_FAMILY_LEN + 8], refresh[REFRESH_B64_LEN + 8];
    api_random_b64(family, sizeof(family), 16);
    api_random_b64(refresh, sizeof(refresh), REFRESH_BYTES);
    login_unit u = {.uid = l.id, .device_id = did, .device_name = dname, .family = family,
                    .refresh = refresh, .addr = addr, .now = store_now_ms(),
                    .ttl_ms = (int64_t)p->refresh_ttl_s * 1000, .old_hash = l.hash};
    /* The configured cost changed since this hash was made: re-hash now that we know the
     * password (the only moment we do). */
    char rehash[PASSWORD_STORED_MAX];
    if (password_needs_rehash(l.hash, p->kdf_cost) &&
        password_hash(pw, p->kdf_cost, rehash, sizeof(rehash)) == 0)
        u.new_hash = rehash;
    int src = store_write(p->store, login_run, &u);
    if (src != 0) {
        json_decref(u.user);
        api_store_error(err, src);
        goto out;
    }
    if (u.old_family[0])
        api_families_remove(p->families, u.old_family);
    api_families_add(p->families, family, l.id);
    char access[JWT_MAX_LEN];
    if (auth_issue_access(p, l.id, l.role, did, family, access, sizeof(access)) != JWT_OK) {
        json_decref(u.user);
        api_fail(err, 500, "internal", "token signing failed");
        goto out;
    }
    rc = api_ok(rs, 200, auth_token_pair(p, access, refresh, u.user));
out:
    json_decref(b);
    return rc;
}

/* ---- refresh ---- */

enum { REFRESH_OK = 0, REFRESH_UNKNOWN, REFRESH_REVOKED, REFRESH_REUSED, REFRESH_EXPIRED };

typedef struct refresh_unit {
    uint8_t hash[SHA256_DIGEST_LENGTH];
    const char *next;
    int64_t now, ttl_ms;
    int outcome;
    uint64_t uid;
    char family[API_FAMILY_LEN + 8];
    char device_id[129];
    char role[16];
} refresh_unit;

static int refresh_run(sqlite3 *db, void *arg)
{
    refresh_unit *u = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT r.family, r.user_id, r.expires_at, r.used_at, "
                           "d.revoked_at, d.device_id, u.role FROM refresh_tokens r "
                           "JOIN devices d ON d.family = r.family JOIN users u ON u.id = r.user_id "
                           "WHERE r.token_hash = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, u->hash, sizeof(u->hash), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        u->outcome = REFRESH_UNKNOWN;
        return 1;
    }
    api_sql_text(st, 0, u->family, sizeof(u->family));
    u->uid = (uint64_t)sqlite3_column_int64(st, 1);
    int64_t expires = sqlite3_column_int64(st, 2);
    bool used = sqlite3_column_type(st, 3) != SQLITE_NULL;
    bool revoked = sqlite3_column_type(st, 4) != SQLITE_NULL;
    api_sql_text(st, 5, u->device_id, sizeof(u->device_id));
    api_sql_text(st, 6, u->role, sizeof(u->role));
    sqlite3_finalize(st);
    if (revoked) {
        u->outcome = REFRESH_REVOKED;
        return 1;
    }
    if (u->now >= expires) {
        u->outcome = REFRESH_EXPIRED;
        return 1;
    }
    if (used) {
        /* Reuse: keep this unit's write (the revocation) and answer 401. */
        u->outcome = REFRESH_REUSED;
        return auth_revoke_family_db(db, u->family, "refresh_reuse", u->now) < 0 ? -1 : 0;
    }
    if (sqlite3_prepare_v2(db, "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, u->now);
    sqlite3_bind_blob(st, 2, u->hash, sizeof(u->hash), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (auth_insert_refresh(db, u->next, u->family, u->uid, u->now, u->ttl_ms) != 0)
        return -1;
    if (sqlite3_prepare_v2(db, "UPDATE devices SET last_seen_at = ? WHERE family = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, u->now);
    sqlite3_bind_text(st, 2, u->family, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    u->outcome = REFRESH_OK;
    return rc == SQLITE_DONE ? 0 : -1;
}

typedef struct refresh_owner {
    const uint8_t *hash;
    uint64_t uid;
} refresh_owner;

static int refresh_owner_run(sqlite3 *db, void *arg)
{
    refresh_owner *o = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT user_id FROM refresh_tokens WHERE token_hash = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, o->hash, SHA256_DIGEST_LENGTH, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        o->uid = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int auth_refresh(api_req *rq, api_resp *rs)
{
    api_error *err = &rs->err;
    platform_t *p = rq->p;
    json_t *b = api_body(rq, err);
    if (!b)
        return -1;
    const char *token;
    static const char *const fields[] = {"refresh_token", NULL};
    int rc = -1;
    if (apijson_only_fields(b, fields, err) ||
        apijson_string(b, "refresh_token", true, &token, err))
        goto out;
    if (api_rate_check(p, "refresh-ip", rq->http->remote_ip, err))
        goto out;
    refresh_unit u = {.now = store_now_ms(), .ttl_ms = (int64_t)p->refresh_ttl_s * 1000};
    auth_hash_token(token, u.hash);
    refresh_owner owner = {.hash = u.hash};
    if (store_read(p->store, refresh_owner_run, &owner) == 0 && owner.uid) {
        char acct[32];
        snprintf(acct, sizeof(acct), "%llu", (unsigned long long)owner.uid);
        if (api_rate_check(p, "refresh-acct", acct, err))
            goto out;
    }
    char next[REFRESH_B64_LEN + 8];
    api_random_b64(next, sizeof(next), REFRESH_BYTES);
    u.next = next;
    int src = store_write(p->store, refresh_run, &u);
    if (src != 0 && src != 1) {
        api_store_error(err, src);
        goto out;
    }
    switch (u.outcome) {
    case REFRESH_OK:
        break;
    case REFRESH_REUSED:
        api_families_remove(p->families, u.family);
        LOG_WARN("api", "refresh token reuse for user %llu: device session revoked",
                 (unsigned long long)u.uid);
        api_fail(err, 401, "refresh_token_reused", "this refresh token was already used; the "
                 "device has been signed out");
        goto out;
    case REFRESH_EXPIRED:
        api_fail(err, 401, "refresh_token_expired", "the refresh token has expired");
        goto out;
    case REFRESH_REVOKED:
        api_fail(err, 401, "token_revoked", "this device has been signed out");
        goto out;
    default:
        api_fail(err, 401, "invalid_refresh_token", "the refresh token is not valid");
        goto out;
    }
    char access[JWT_MAX_LEN];
    if (auth_issue_access(p, u.uid, u.role, u.device_id, u.family, access, sizeof(access)) != 0) {
        api_fail(err, 500, "internal", "token signing failed");
        goto out;
    }
    rc = api_ok(rs, 200, auth_token_pair(p, access, next, NULL));
out:
    json_decref(b);
    return rc;
}

/* ---- logout and devices ---- */

typedef struct revoke_unit {
    uint64_t uid;
    const char *family;      /* revoke this family, or */
    const char *device_id;   /* the live family of this device of uid */
    const char *reason;
    int64_t now;
    char revoked[API_FAMILY_LEN + 8];
} revoke_unit;

static int revoke_run(sqlite3 *db, void *arg)
{
    revoke_unit *u = arg;
    u->revoked[0] = '\0';
    if (u->device_id) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT family FROM devices WHERE user_id = ? AND "
                               "device_id = ? AND revoked_at IS NULL", -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)u->uid);
        sqlite3_bind_text(st, 2, u->device_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            api_sql_text(st, 0, u->revoked, sizeof(u->revoked));
        sqlite3_finalize(st);
        if (!u->revoked[0])
            return 1;
    } else {
        snprintf(u->revoked, sizeof(u->revoked), "%s", u->family);
    }
    int r = auth_revoke_family_db(db, u->revoked, u->reason, u->now);
    if (r < 0)
        return -1;
    if (r == 0) {
        u->revoked[0] = '\0';
        return 1;
    }
    return 0;
}

int auth_logout(api_req *rq, api_resp *rs)
{
    revoke_unit u = {.uid = rq->auth.user_id, .family = rq->auth.family, .reason = "logout",
                     .now = store_now_ms()};
    int src = store_write(rq->p->store, revoke_run, &u);
    if (src != 0 && src != 1)
        return api_store_error(&rs->err, src);
    api_families_remove(rq->p->families, rq->auth.family);
    return api_ok(rs, 200, json_pack("{s:b}", "logged_out", 1));
}

int auth_devices_revoke(api_req *rq, api_resp *rs)
{
    const char *did = rq->params[0];
    if (validate_device_id(did) != 0)
        return api_fail(&rs->err, 404, "not_found", "no such device");
    revoke_unit u = {.uid = rq->auth.user_id, .device_id = did, .reason = "revoked",
                     .now = store_now_ms()};
    int src = store_write(rq->p->store, revoke_run, &u);
    if (src == 1)
        return api_fail(&rs->err, 404, "not_found", "no such device");
    if (src != 0)
        return api_store_error(&rs->err, src);
    api_families_remove(rq->p->families, u.revoked);
    return api_ok(rs, 200, json_pack("{s:s}", "revoked", did));
}

typedef struct devices_read {
    uint64_t uid;
    const char *current;
    json_t *list;
} devices_read;

static int devices_list_run(sqlite3 *db, void *arg)
{
    devices_read *d = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT device_id, name, family, created_at, last_seen_at FROM "
                           "devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)d->uid);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char t1[32], t2[32];
        const char *fam = (const char *)sqlite3_column_text(st, 2);
        json_array_append_new(d->list, json_pack("{s:s, s:s, s:s, s:s, s:b}",
            "device_id", (const char *)sqlite3_column_text(st, 0),
            "name", (const char *)sqlite3_column_text(st, 1),
            "created_at", api_iso8601(sqlite3_column_int64(st, 3), t1),
            "last_seen_at", api_iso8601(sqlite3_column_int64(st, 4), t2),
            "current", fam && strcmp(fam, d->current) == 0));
    }
    sqlite3_finalize(st);
    return 0;
}

int auth_devices_list(api_req *rq, api_resp *rs)
{
    devices_read d = {.uid = rq->auth.user_id, .current = rq->auth.family, .list = json_array()};
    int src = store_read(rq->p->store, devices_list_run, &d);
    if (src != 0) {
        json_decref(d.list);
        return api_store_error(&rs->err, src);
    }
    return api_ok(rs, 200, json_pack("{s:o}", "devices", d.list));
}

/* ---- start-up ---- */

static int families_load_run(sqlite3 *db, void *arg)
{
    platform_t *p = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT family, user_id FROM devices WHERE revoked_at IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW)
        api_families_add(p->families, (const char *)sqlite3_column_text(st, 0),
                         (uint64_t)sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    return 0;
}

int auth_load_families(platform_t *p)
{
    return store_read(p->store, families_load_run, p);
}
