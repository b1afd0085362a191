/*
 * tone.h: a short warning tone mixed into the Opus audio the server relays to a user (the
 * low-balance tone, SPEC 5): each RTP packet of the other party's audio is decoded, the tone
 * added, and encoded again in place, so the user hears both. The packet keeps its header
 * (SSRC, sequence number, timestamp): only the payload changes.
 *
 * Threads: vc_tone_new/vc_tone_free anywhere; vc_tone_mix on the loop relaying to the user,
 * one thread at a time (session.h says how a tone is handed to the loop).
 * Ownership: the tone owns its Opus decoder and encoder (allocated by vc_tone_new, never per
 * packet).
 */
#ifndef PARLEY_CALLS_TONE_H
#define PARLEY_CALLS_TONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vc_tone vc_tone;

/* A tone of hz lasting duration_ms (two beeps with a pause), or NULL. */
vc_tone *vc_tone_new(uint32_t hz, uint32_t duration_ms);
void vc_tone_free(vc_tone *t);

/* Mixes the tone into the Opus RTP packet buf (len bytes, room for cap) and returns the new
 * length (the packet unchanged, with its length, when it cannot be mixed: padding, a
 * payload that does not decode, no room). *done is set once the whole tone was played. */
size_t vc_tone_mix(vc_tone *t, uint8_t *buf, size_t len, size_t cap, bool *done);

#endif
