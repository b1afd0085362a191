/*
 * vapid_store: the server's VAPID key pair (RFC 8292), generated once and kept in a file under
 * the data directory, readable by the server's user only (0600, created with O_EXCL so two
 * starts cannot write two keys). Browsers subscribe with its public key: replacing it would
 * orphan every Web Push subscription, so an unreadable or corrupt file is an error, never a
 * reason to generate a new one.
 *
 * Threads: call at start, before the push service and the REST API use the key.
 * Ownership: the returned key is the caller's (webpush_vapid_free).
 */
#ifndef PARLEY_PUSH_VAPID_STORE_H
#define PARLEY_PUSH_VAPID_STORE_H

#include <stddef.h>

#include "push/webpush.h"

#define VAPID_STORE_FILE "vapid_private_key"

/* Loads <dir>/VAPID_STORE_FILE, or creates it with a fresh key when it does not exist.
 * NULL with a message in err on failure. A file readable by group or others is set to 0600. */
webpush_vapid *vapid_store_load_or_create(const char *dir, char *err, size_t errcap);

#endif
