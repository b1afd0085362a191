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

const char *store_fault_vfs(void);
void store_fault_arm(int kinds, int n);

#endif
