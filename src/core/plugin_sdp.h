/*
 * plugin_sdp: the session-description services of plugins/plugin.h (jsep_describe,
 * jsep_answer, jsep_offer, jsep_relay_offer), so that plugins never write or parse SDP
 * themselves and need nothing from src/.
 *
 * Every function is pure (JSON jsep text in, malloc'd JSON jsep text out), any thread. The
 * descriptions carry no transport: the core adds ICE/DTLS attributes and our SSRCs when a
 * plugin pushes one to a client (handle_media_local_jsep).
 */
#ifndef PARLEY_CORE_PLUGIN_SDP_H
#define PARLEY_CORE_PLUGIN_SDP_H

#include "plugin.h"

int plugin_sdp_describe(const char *jsep_json, plugin_media_desc *out);
char *plugin_sdp_answer(const char *offer_jsep, const plugin_media_desc *want);
char *plugin_sdp_offer(const plugin_media_desc *want);
char *plugin_sdp_relay_offer(const char *offer_jsep, const plugin_media_desc *want);

#endif
