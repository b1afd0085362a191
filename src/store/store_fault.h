/*
 * store_fault: the fault-injecting pass-through VFS used by the store's writing connection
 * (internal to src/store; tests arm it through store_debug_fail_io in store.h).
 *
 * store_fault_vfs registers the VFS once (thread-safe) and returns its name, or NULL when the
 * default VFS is too old to wrap (then the store opens without it).
 */
#ifndef PARLEY_STORE_FAULT_H
#define PARLEY_STORE_FAULT_H

#define STORE_FAULT_VFS "parley-fault"

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

const char *store_fault_vfs(void);
void store_fault_arm(int kinds, int n);

/* Syncs of a main database file opened through the VFS, made on the calling thread so far.
 * In WAL mode only a checkpoint that copied pages syncs the database file, so on the
 * storage thread this counts the writer's own checkpoints (store_stats). Any thread. */
uint64_t store_fault_db_syncs_here(void);

/* Power-loss log hooks (store_powerloss.c), called by the VFS; no-ops unless a log is open.
 * name: the file's full path (NULL for temporary files, which are never durable). */
bool store_powerloss_active(void);
void store_powerloss_before_write(const char *name, sqlite3_file *real, int64_t off, int amt);
void store_powerloss_before_truncate(const char *name, sqlite3_file *real, int64_t size);
void store_powerloss_synced(const char *name);

#endif
