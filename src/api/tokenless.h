/*
 * tokenless: which users are known to hold no push token, so that a chat message to a user
 * without any (a web-only user, most users of a self-hosted server) costs nothing on the push
 * path: no notice built, no hand-off to the resolver thread, no token read per message.
 *
 * Correctness rests on one epoch counter. A reader notes "user has no token" with the epoch
 * it read before its token read began (api_tokenless_epoch, then the read, then
 * api_tokenless_note); a writer that stores a token bumps the epoch after its commit
 * (api_tokenless_changed). A note counts only while the epoch is the one it was taken at, so
 * a token stored while a read was under way voids what that read concluded. Deleting a token
 * never makes a "no token" note wrong, so deletions need no bump.
 *
 * Bounded: past API_TOKENLESS_MAX notes the table starts over (a forgotten user costs one
 * read again). Threads: any; one small lock, nothing called under it.
 */
#ifndef PARLEY_API_TOKENLESS_H
#define PARLEY_API_TOKENLESS_H
#include <stdbool.h>
#include <stdint.h>

#define API_TOKENLESS_MAX 65536

typedef struct api_tokenless api_tokenless;

api_tokenless *api_tokenless_create(void);
void api_tokenless_destroy(api_tokenless *t);
/* The epoch to pass to api_tokenless_note: read it before the token read starts. */
uint64_t api_tokenless_epoch(api_tokenless *t);
/* The read that began at epoch found no token at all for user_id. */
void api_tokenless_note(api_tokenless *t, uint64_t user_id, uint64_t epoch);
/* true when user_id is known to hold no token (noted at the current epoch). */
bool api_tokenless_known(api_tokenless *t, uint64_t user_id);
/* A token was stored (call after its commit): every note is void. */
void api_tokenless_changed(api_tokenless *t);
#endif
