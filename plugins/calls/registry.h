/*
 * registry.h: who can be reached — the calls plugin's directory. It answers the only two
 * questions the plugin asks about other sessions:
 *   - "the user's devices": the sessions registered under a username (with auth, a user's id;
 *     several devices of one user may register at once);
 *   - "the other leg": the other party of a call.
 * Everything that reaches another session goes through these functions, so a bus (several
 * nodes) can later replace them without touching the request handlers.
 *
 * Sessions are opaque pointers: the registry neither dereferences nor references them (the
 * plugin removes a session before it lets go of it). Usernames are copied.
 * Threads: not thread-safe; the plugin uses it only on its dispatch thread.
 */
#ifndef PARLEY_CALLS_REGISTRY_H
#define PARLEY_CALLS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "call.h"

typedef struct registry registry;

registry *vc_registry_create(void);
void vc_registry_destroy(registry *r);

/* Registers session under username, after the devices already there. 0, or -1 without memory. */
int vc_registry_add(registry *r, const char *username, void *session);
/* Forgets session under username (no-op when it is not there). */
void vc_registry_remove(registry *r, const char *username, void *session);

/* The user's devices: sessions registered under username, oldest first. *devices stays valid
 * until the next add/remove. Returns how many (0: nobody by that name). */
size_t vc_registry_devices(const registry *r, const char *username, void *const **devices);

/* Registered usernames (each once), for "list": count, then the i-th name. */
size_t vc_registry_name_count(const registry *r);
const char *vc_registry_name_at(const registry *r, size_t i);

/* The other leg of an active call, or NULL. */
void *vc_registry_other_leg(const call *c, const void *leg);

#endif
