/*
 * rooms.h: the conversations that have devices joined right now, and those devices (members).
 * A room is one conversation (its id, its caller and host); a member is one device joined to
 * it (an opaque pointer the plugin owns, the user it belongs to, the data-channel label to
 * write to). While a joining device is sent its backlog, live messages for it wait in the
 * member (defer) and go out after the backlog, in seq order, those the backlog had left out.
 *
 * Threads: none of its own; the chat plugin uses it on its dispatch thread only.
 * Ownership: the table owns rooms and members; members do not own their device pointer.
 */
#ifndef PARLEY_CHAT_ROOMS_H
#define PARLEY_CHAT_ROOMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAT_LABEL_MAX 64

typedef struct chat_deferred {
    int64_t seq;
    char *json;                 /* the event as it would have been sent */
} chat_deferred;

typedef struct chat_member {
    void *device;
    uint64_t user_id;
    char label[CHAT_LABEL_MAX];
    bool catching_up;           /* its backlog is being sent: live messages are deferred */
    uint64_t join_id;           /* which join made it (the plugin's counter) */
    chat_deferred *deferred;
    size_t ndeferred, deferred_cap;
} chat_member;

typedef struct chat_room {
    int64_t id;
    uint64_t caller_id, host_id;
    chat_member **members;
    size_t nmembers, members_cap;
    struct chat_room *next;     /* hash chain */
} chat_room;

typedef struct chat_rooms chat_rooms;

chat_rooms *chat_rooms_new(void);
void chat_rooms_free(chat_rooms *t);
size_t chat_rooms_count(const chat_rooms *t);
size_t chat_rooms_members(const chat_rooms *t);

chat_room *chat_rooms_find(chat_rooms *t, int64_t id);
/* The room, created when absent (NULL when out of memory). */
chat_room *chat_rooms_open(chat_rooms *t, int64_t id, uint64_t caller_id, uint64_t host_id);
/* Frees room when nobody is joined any more. */
void chat_rooms_close_if_empty(chat_rooms *t, chat_room *room);

chat_member *chat_room_member(chat_room *room, const void *device);
/* A new member (catching_up set), NULL when out of memory. */
chat_member *chat_room_join(chat_room *room, void *device, uint64_t user_id, const char *label);
void chat_room_leave(chat_room *room, chat_member *m);
/* Devices of user joined to room. */
size_t chat_room_user_devices(const chat_room *room, uint64_t user_id);
/* The other party of the conversation. */
uint64_t chat_room_peer_of(const chat_room *room, uint64_t user_id);

/* Keeps json (copied) for a member that is catching up; -1 when out of memory. */
int chat_member_defer(chat_member *m, int64_t seq, const char *json);
/* Sorts what was deferred by seq and drops what the backlog already carried (seq <= sent_up_to)
 * or twice; the member keeps the array until chat_member_clear_deferred. */
void chat_member_settle_deferred(chat_member *m, int64_t sent_up_to);
void chat_member_clear_deferred(chat_member *m);

#endif
