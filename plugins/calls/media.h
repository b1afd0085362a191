/*
 * media.h: the calls plugin's media-loop callbacks (media.c) and the dispatch-thread work
 * they hand off (implemented in calls.c).
 *
 * Threads: the calls_media_* functions run on the loop owning the session's PeerConnection
 * (no locks, no allocation per packet); vc_leg_media_up/down run on the dispatch thread.
 */
#ifndef PARLEY_CALLS_MEDIA_H
#define PARLEY_CALLS_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

void vc_media_setup(void *session);
void vc_media_hangup(void *session);
void vc_media_rtp(void *session, plugin_media_kind kind, uint8_t *buf, size_t len);
void vc_media_rtcp(void *session, plugin_media_kind kind, uint8_t *buf, size_t len);
void vc_media_data(void *session, const char *label, int binary, const uint8_t *buf, size_t len);
void vc_media_data_open(void *session, const char *label);
void vc_media_data_close(void *session, const char *label);
void vc_media_slow_link(void *session, bool uplink, plugin_media_kind kind, uint32_t lost);

/* Dispatch thread; arg is a calls_session whose reference the function drops. */
void vc_leg_media_up(void *arg);
void vc_leg_media_down(void *arg);

#endif
