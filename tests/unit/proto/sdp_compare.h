/*
 * sdp_compare.h: deep equality of two parsed sessions, field by field (the round-trip
 * checks of test_sdp.c).
 */
#ifndef PARLEY_TESTS_SDP_COMPARE_H
#define PARLEY_TESTS_SDP_COMPARE_H

#include <stdbool.h>
#include <string.h>

#include "proto/sdp.h"

static bool streq0(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool payload_equal(const sdp_payload *a, const sdp_payload *b)
{
    if (a->pt != b->pt || !streq0(a->encoding, b->encoding) || a->clock_rate != b->clock_rate ||
        a->channels != b->channels || !streq0(a->fmtp, b->fmtp) || a->n_rtcp_fb != b->n_rtcp_fb)
        return false;
    for (size_t i = 0; i < a->n_rtcp_fb; i++) {
        if (!streq0(a->rtcp_fb[i], b->rtcp_fb[i]))
            return false;
    }
    return true;
}

static bool media_equal(const sdp_media *a, const sdp_media *b)
{
    if (a->type != b->type || !streq0(a->type_name, b->type_name) || a->port != b->port ||
        a->port_count != b->port_count || !streq0(a->proto, b->proto) ||
        a->n_formats != b->n_formats || !streq0(a->connection, b->connection) ||
        !streq0(a->mid, b->mid) || a->dir != b->dir || !streq0(a->ice_ufrag, b->ice_ufrag) ||
        !streq0(a->ice_pwd, b->ice_pwd) || !streq0(a->ice_options, b->ice_options) ||
        !streq0(a->fingerprint, b->fingerprint) || !streq0(a->setup, b->setup) ||
        a->n_candidates != b->n_candidates || a->end_of_candidates != b->end_of_candidates ||
        a->rtcp_mux != b->rtcp_mux || a->rtcp_mux_only != b->rtcp_mux_only ||
        a->rtcp_rsize != b->rtcp_rsize || a->bundle_only != b->bundle_only ||
        a->rejected != b->rejected || a->n_payloads != b->n_payloads ||
        a->n_extmaps != b->n_extmaps || a->n_ssrcs != b->n_ssrcs ||
        a->n_ssrc_groups != b->n_ssrc_groups || !streq0(a->msid, b->msid) ||
        a->sctp_port != b->sctp_port || a->max_message_size != b->max_message_size ||
        a->has_max_message_size != b->has_max_message_size || a->n_attrs != b->n_attrs)
        return false;
    for (size_t i = 0; i < a->n_formats; i++)
        if (!streq0(a->formats[i], b->formats[i]))
            return false;
    for (size_t i = 0; i < a->n_candidates; i++)
        if (!streq0(a->candidates[i], b->candidates[i]))
            return false;
    for (size_t i = 0; i < a->n_payloads; i++)
        if (!payload_equal(&a->payloads[i], &b->payloads[i]))
            return false;
    for (size_t i = 0; i < a->n_extmaps; i++)
        if (a->extmaps[i].id != b->extmaps[i].id || a->extmaps[i].dir != b->extmaps[i].dir ||
            !streq0(a->extmaps[i].uri, b->extmaps[i].uri) ||
            !streq0(a->extmaps[i].params, b->extmaps[i].params))
            return false;
    for (size_t i = 0; i < a->n_ssrcs; i++)
        if (a->ssrcs[i].ssrc != b->ssrcs[i].ssrc || !streq0(a->ssrcs[i].attr, b->ssrcs[i].attr) ||
            !streq0(a->ssrcs[i].value, b->ssrcs[i].value))
            return false;
    for (size_t i = 0; i < a->n_ssrc_groups; i++)
        if (!streq0(a->ssrc_groups[i].semantics, b->ssrc_groups[i].semantics) ||
            a->ssrc_groups[i].n_ssrcs != b->ssrc_groups[i].n_ssrcs ||
            memcmp(a->ssrc_groups[i].ssrcs, b->ssrc_groups[i].ssrcs,
                   a->ssrc_groups[i].n_ssrcs * 4) != 0)
            return false;
    for (size_t i = 0; i < a->n_attrs; i++)
        if (a->attrs[i].type != b->attrs[i].type || !streq0(a->attrs[i].name, b->attrs[i].name) ||
            !streq0(a->attrs[i].value, b->attrs[i].value))
            return false;
    return true;
}

static bool session_equal(const sdp_session *a, const sdp_session *b)
{
    if (!streq0(a->origin_user, b->origin_user) || !streq0(a->origin_sess_id, b->origin_sess_id) ||
        a->origin_sess_version != b->origin_sess_version ||
        !streq0(a->origin_addr, b->origin_addr) || !streq0(a->name, b->name) ||
        !streq0(a->timing, b->timing) || !streq0(a->connection, b->connection) ||
        a->n_bundle != b->n_bundle || !streq0(a->msid_semantic, b->msid_semantic) ||
        a->ice_lite != b->ice_lite || !streq0(a->ice_ufrag, b->ice_ufrag) ||
        !streq0(a->ice_pwd, b->ice_pwd) || !streq0(a->ice_options, b->ice_options) ||
        !streq0(a->fingerprint, b->fingerprint) || !streq0(a->setup, b->setup) ||
        a->n_attrs != b->n_attrs || a->n_media != b->n_media)
        return false;
    for (size_t i = 0; i < a->n_bundle; i++)
        if (!streq0(a->bundle[i], b->bundle[i]))
            return false;
    for (size_t i = 0; i < a->n_attrs; i++)
        if (a->attrs[i].type != b->attrs[i].type || !streq0(a->attrs[i].name, b->attrs[i].name) ||
            !streq0(a->attrs[i].value, b->attrs[i].value))
            return false;
    for (size_t i = 0; i < a->n_media; i++)
        if (!media_equal(&a->media[i], &b->media[i]))
            return false;
    return true;
}

#endif
