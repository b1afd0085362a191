/*
 * ledger_schema.c: the ledger's tables (module "ledger" in schema_migrations).
 *
 * The database enforces what it can on its own, as a second line behind the C checks:
 * STRICT typing (no REAL money), amounts > 0, no negative balance except 'external', hold
 * arithmetic, one account per (owner, kind), and append-only ops/transfers (triggers).
 */
#include "ledger/ledger.h"

/* ops and transfers are append-only: corrections are new operations. */
#define LEDGER_APPEND_ONLY(table)                                                              \
    "CREATE TRIGGER " table "_no_update BEFORE UPDATE ON " table                                \
    " BEGIN SELECT RAISE(ABORT, '" table " is append-only'); END;"                              \
    "CREATE TRIGGER " table "_no_delete BEFORE DELETE ON " table                                \
    " BEGIN SELECT RAISE(ABORT, '" table " is append-only'); END;"

/* The two append-only tables, as v1 made them and v2 remade them: only the kind CHECK differs. */
#define LEDGER_OPS_TABLE(name, kind_check)                                                     \
    "CREATE TABLE " name " ("                                                                  \
    " id INTEGER PRIMARY KEY,"                                                                 \
    " idempotency_key TEXT NOT NULL UNIQUE,"                                                   \
    " kind TEXT NOT NULL CHECK (" kind_check "),"                                             \
    " params TEXT NOT NULL,"                                                                   \
    " user_id INTEGER, host_id INTEGER, hold_ref TEXT, ref TEXT,"                              \
    " amount INTEGER NOT NULL CHECK (amount >= 0),"                                            \
    " host_amount INTEGER NOT NULL CHECK (host_amount >= 0),"                                  \
    " fee_amount INTEGER NOT NULL CHECK (fee_amount >= 0),"                                    \
    " from_hold INTEGER NOT NULL CHECK (from_hold >= 0),"                                      \
    " from_wallet INTEGER NOT NULL CHECK (from_wallet >= 0),"                                  \
    " created_at INTEGER NOT NULL"                                                             \
    ") STRICT;"

#define LEDGER_TRANSFERS_TABLE(kind_check)                                                     \
    "CREATE TABLE ledger_transfers ("                                                          \
    " id INTEGER PRIMARY KEY,"                                                                 \
    " op_id INTEGER NOT NULL REFERENCES ledger_ops(id),"                                       \
    " from_account INTEGER NOT NULL REFERENCES ledger_accounts(id),"                           \
    " to_account INTEGER NOT NULL REFERENCES ledger_accounts(id),"                             \
    " amount INTEGER NOT NULL CHECK (amount > 0),"                                             \
    " kind TEXT NOT NULL CHECK (" kind_check "),"                                             \
    " ref TEXT,"                                                                               \
    " created_at INTEGER NOT NULL,"                                                            \
    " CHECK (from_account <> to_account)"                                                      \
    ") STRICT;"

#define LEDGER_TRANSFERS_INDEXES                                                               \
    "CREATE INDEX ledger_transfers_from ON ledger_transfers(from_account, id);"                 \
    "CREATE INDEX ledger_transfers_to ON ledger_transfers(to_account, id);"                     \
    "CREATE INDEX ledger_transfers_op ON ledger_transfers(op_id);"

static const char ledger_v1[] =
    "CREATE TABLE ledger_accounts ("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('external','wallet','hold','earnings','revenue')),"
    " owner INTEGER CHECK (owner IS NULL OR owner > 0),"
    " balance INTEGER NOT NULL DEFAULT 0 CHECK (kind = 'external' OR balance >= 0),"
    " created_at INTEGER NOT NULL,"
    " CHECK ((kind IN ('external','revenue')) = (owner IS NULL))"
    ") STRICT;"
    "CREATE UNIQUE INDEX ledger_accounts_owner ON ledger_accounts(owner, kind);"
    "INSERT INTO ledger_accounts(id, kind, owner, balance, created_at)"
    " VALUES (1, 'external', NULL, 0, 0), (2, 'revenue', NULL, 0, 0);"

    LEDGER_OPS_TABLE("ledger_ops",
                     "kind IN ('purchase','hold_place','hold_extend','hold_capture',"
                     "  'hold_release','charge','payout')")
    "CREATE INDEX ledger_ops_ref ON ledger_ops(ref);"

    LEDGER_TRANSFERS_TABLE("kind IN ('purchase','hold','release','earning','fee','topup',"
                           "  'payout')")
    LEDGER_TRANSFERS_INDEXES

    "CREATE TABLE ledger_holds ("
    " id INTEGER PRIMARY KEY,"
    " hold_ref TEXT NOT NULL UNIQUE,"
    " user_id INTEGER NOT NULL CHECK (user_id > 0),"
    " held INTEGER NOT NULL CHECK (held >= 0),"
    " captured INTEGER NOT NULL CHECK (captured >= 0),"
    " released INTEGER NOT NULL CHECK (released >= 0),"
    " state TEXT NOT NULL CHECK (state IN ('open','closed')),"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " CHECK (captured + released <= held),"
    " CHECK (state = 'open' OR captured + released = held)"
    ") STRICT;"
    "CREATE INDEX ledger_holds_user ON ledger_holds(user_id, state);"

    LEDGER_APPEND_ONLY("ledger_transfers")
    LEDGER_APPEND_ONLY("ledger_ops");

/* The same tables with each kind CHECK written as a chain of equalities: SQLite (3.40) builds
 * an ephemeral index of a constant IN list every time it checks a row, and ops and transfers
 * take three rows per billed chat message (chat_store_bench: 8 % of the storage thread's CPU
 * per message). A CHECK cannot be altered in place, so both tables are rebuilt: the transfers
 * wait in a temporary copy (nothing may reference ledger_ops while it is dropped: foreign
 * keys are on and cannot be turned off inside the migration's transaction), the ops move to
 * a new table renamed into place, and the transfers come back under their foreign keys. The
 * indexes and the append-only triggers, dropped with the tables, are made again. */
static const char ledger_v2[] =
    "CREATE TEMP TABLE ledger_transfers_copy AS SELECT * FROM ledger_transfers;"
    "DROP TABLE ledger_transfers;"

    LEDGER_OPS_TABLE("ledger_ops_v2",
                     "kind = 'purchase' OR kind = 'hold_place' OR kind = 'hold_extend'"
                     "  OR kind = 'hold_capture' OR kind = 'hold_release' OR kind = 'charge'"
                     "  OR kind = 'payout'")
    "INSERT INTO ledger_ops_v2 SELECT id, idempotency_key, kind, params, user_id, host_id, hold_ref,"
    " ref, amount, host_amount, fee_amount, from_hold, from_wallet, created_at FROM ledger_ops;"
    "DROP TABLE ledger_ops;"
    "ALTER TABLE ledger_ops_v2 RENAME TO ledger_ops;"
    "CREATE INDEX ledger_ops_ref ON ledger_ops(ref);"

    LEDGER_TRANSFERS_TABLE("kind = 'purchase' OR kind = 'hold' OR kind = 'release'"
                           "  OR kind = 'earning' OR kind = 'fee' OR kind = 'topup' OR kind = 'payout'")
    "INSERT INTO ledger_transfers SELECT id, op_id, from_account, to_account, amount, kind, ref,"
    " created_at FROM temp.ledger_transfers_copy;"
    "DROP TABLE temp.ledger_transfers_copy;"
    LEDGER_TRANSFERS_INDEXES
    LEDGER_APPEND_ONLY("ledger_transfers")
    LEDGER_APPEND_ONLY("ledger_ops");

const store_migration ledger_migrations[] = {
    {"ledger", 1, ledger_v1},
    {"ledger", 2, ledger_v2},
};
const size_t ledger_migrations_count = sizeof ledger_migrations / sizeof ledger_migrations[0];

int ledger_migrate(store_t *s, char *err, size_t errcap)
{
    return store_migrate(s, ledger_migrations, ledger_migrations_count, err, errcap);
}
