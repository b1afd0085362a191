/*
 * schema: the platform's own tables (module "api" in schema_migrations). Money tables belong
 * to the ledger module; purchases reference ledger transfers by key ("purchase:<id>").
 *
 * Times are Unix milliseconds (store_now_ms). Emails are stored normalised (lower case), so
 * the UNIQUE constraint is the duplicate check. devices has one row per login (a "family" of
 * refresh tokens); at most one live row per (user, device_id).
 */
#include "api/internal.h"

static const char api_schema_v1[] =
    "CREATE TABLE api_secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE users("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK(role IN ('caller','host')),"
    "  display_name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE host_profiles("
    "  user_id INTEGER PRIMARY KEY REFERENCES users(id),"
    "  bio TEXT NOT NULL DEFAULT '',"
    "  avatar_url TEXT,"
    "  languages TEXT NOT NULL DEFAULT '[]',"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  audio_rate INTEGER NOT NULL DEFAULT 0 CHECK(audio_rate >= 0),"
    "  video_rate INTEGER NOT NULL DEFAULT 0 CHECK(video_rate >= 0),"
    "  message_rate INTEGER NOT NULL DEFAULT 0 CHECK(message_rate >= 0),"
    "  do_not_disturb INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX host_profiles_rate ON host_profiles(audio_rate, user_id);"
    "CREATE TABLE devices("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  device_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  family TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen_at INTEGER NOT NULL,"
    "  revoked_at INTEGER,"
    "  revoke_reason TEXT);"
    "CREATE UNIQUE INDEX devices_live ON devices(user_id, device_id) WHERE revoked_at IS NULL;"
    "CREATE TABLE refresh_tokens("
    "  token_hash BLOB PRIMARY KEY,"
    "  family TEXT NOT NULL REFERENCES devices(family),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER);"
    "CREATE INDEX refresh_tokens_family ON refresh_tokens(family);"
    "CREATE TABLE purchases("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  package_id TEXT NOT NULL,"
    "  credits INTEGER NOT NULL CHECK(credits > 0),"
    "  price_cents INTEGER NOT NULL CHECK(price_cents >= 0),"
    "  currency TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('pending','completed','failed')),"
    "  created_at INTEGER NOT NULL,"
    "  completed_at INTEGER);"
    "CREATE INDEX purchases_user ON purchases(user_id, id);"
    "CREATE TABLE idempotency_keys("
    "  user_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  response TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, key));"
    "CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);"
    "CREATE TABLE webhook_events("
    "  event_id TEXT PRIMARY KEY,"
    "  purchase_id INTEGER,"
    "  type TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL);";

/* v2: push tokens, one per login (family); they go with the device's session. */
static const char api_schema_v2[] =
    "CREATE TABLE push_tokens("
    "  family TEXT PRIMARY KEY REFERENCES devices(family),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL CHECK(kind IN ('fcm','webpush')),"
    "  value TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX push_tokens_user ON push_tokens(user_id);";

/* v3: expired refresh tokens are purged a few at a time at login (needs this index). */
static const char api_schema_v3[] =
    "CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);";

/* v4: the addresses each user last signed in from (at most 16, auth.c): the login guard does
 * not count wrong passwords from them against the account, so guessing from elsewhere cannot
 * lock the owner out. */
static const char api_schema_v4[] =
    "CREATE TABLE login_addresses("
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  addr TEXT NOT NULL,"
    "  last_ok_at INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, addr)) WITHOUT ROWID;";

static const store_migration api_migrations[] = {
    {"api", 1, api_schema_v1},
    {"api", 2, api_schema_v2},
    {"api", 3, api_schema_v3},
    {"api", 4, api_schema_v4},
};

int api_schema_migrate(store_t *s, char *err, size_t errcap)
{
    return store_migrate(s, api_migrations, sizeof(api_migrations) / sizeof(*api_migrations),
                         err, errcap);
}
