/*
 * sdp_edit.c: lookups over a parsed session and the edits the core and plugins make
 * (transport attributes, our ssrcs, direction).
 */
#include "proto/sdp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sdp_media *sdp_media_by_mid(const sdp_session *s, const char *mid)
{
    int i = sdp_media_index_by_mid(s, mid);
    return i < 0 ? NULL : &s->media[i];
}

int sdp_media_index_by_mid(const sdp_session *s, const char *mid)
{
    if (!s || !mid)
        return -1;
    for (size_t i = 0; i < s->n_media; i++) {
        if (s->media[i].mid && strcmp(s->media[i].mid, mid) == 0)
            return (int)i;
    }
    return -1;
}

sdp_payload *sdp_media_payload(const sdp_media *m, int pt)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_payloads; i++) {
        if (m->payloads[i].pt == pt)
            return &m->payloads[i];
    }
    return NULL;
}

/* Value of key in an fmtp string "k1=v1;k2=v2" (spaces after ';' tolerated). Returns the
 * value's length and sets *val, or -1 when absent. */
static int fmtp_value(const char *fmtp, const char *key, const char **val)
{
    size_t kl = strlen(key);
    const char *p = fmtp;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > kl && p[kl] == '=' && strncmp(p, key, kl) == 0) {
            *val = p + kl + 1;
            return (int)(n - kl - 1);
        }
        p = end;
    }
    return -1;
}

int sdp_media_rtx_pt(const sdp_media *m, int pt)
{
    if (!m)
        return -1;
    for (size_t i = 0; i < m->n_payloads; i++) {
        const sdp_payload *pl = &m->payloads[i];
        const char *v;
        int n;
        if (!pl->encoding || !sdp_streq_nocase_(pl->encoding, "rtx") || !pl->fmtp)
            continue;
        if ((n = fmtp_value(pl->fmtp, "apt", &v)) <= 0)
            continue;
        uint64_t apt;
        if (sdp_parse_uint_(v, (size_t)n, 127, &apt) && (int)apt == pt)
            return pl->pt;
    }
    return -1;
}

int sdp_extmap_id(const sdp_media *m, const char *uri)
{
    if (!m || !uri)
        return 0;
    for (size_t i = 0; i < m->n_extmaps; i++) {
        if (strcmp(m->extmaps[i].uri, uri) == 0)
            return m->extmaps[i].id;
    }
    return 0;
}

sdp_direction sdp_media_direction(const sdp_media *m)
{
    return (!m || m->dir == SDP_DIR_NONE) ? SDP_DIR_SENDRECV : m->dir;
}

const char *sdp_direction_name(sdp_direction d)
{
    switch (d) {
    case SDP_DIR_SENDONLY:
        return "sendonly";
    case SDP_DIR_RECVONLY:
        return "recvonly";
    case SDP_DIR_INACTIVE:
        return "inactive";
    case SDP_DIR_SENDRECV:
    case SDP_DIR_NONE:
        break;
    }
    return "sendrecv";
}

void sdp_pt_map(const sdp_session *s, int8_t map[128])
{
    memset(map, -1, 128);
    if (!s)
        return;
    for (size_t i = 0; i < s->n_media && i < SDP_MAX_MEDIA; i++) {
        const sdp_media *m = &s->media[i];
        if (m->rejected)
            continue;
        for (size_t j = 0; j < m->n_payloads; j++) {
            uint8_t pt = m->payloads[j].pt & 0x7f;
            map[pt] = map[pt] == -1 ? (int8_t)i : -2;
        }
    }
}

int sdp_media_transport(const sdp_session *s, size_t idx, sdp_transport *t)
{
    if (!s || !t || idx >= s->n_media)
        return -1;
    const sdp_media *m = &s->media[idx];
    t->ice_ufrag = m->ice_ufrag ? m->ice_ufrag : s->ice_ufrag;
    t->ice_pwd = m->ice_pwd ? m->ice_pwd : s->ice_pwd;
    t->ice_options = m->ice_options ? m->ice_options : s->ice_options;
    t->fingerprint = m->fingerprint ? m->fingerprint : s->fingerprint;
    t->setup = m->setup ? m->setup : s->setup;
    return 0;
}

static void clear_str(char **p)
{
    free(*p);
    *p = NULL;
}

/* Drops verbatim copies of transport attributes (a second fingerprint, odd forms such as
 * "a=end-of-candidates:x"): after a strip none may survive to be promoted on a re-parse. */
static void strip_verbatim(sdp_attr *attrs, size_t *n)
{
    static const char *const names[] = {"ice-ufrag", "ice-pwd", "ice-options", "ice-lite",
                                        "fingerprint", "setup", "candidate",
                                        "end-of-candidates"};
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        bool drop = false;
        for (size_t k = 0; attrs[i].type == 'a' && k < sizeof(names) / sizeof(names[0]); k++)
            drop = drop || strcmp(attrs[i].name, names[k]) == 0;
        if (drop) {
            free(attrs[i].name);
            free(attrs[i].value);
        } else {
            attrs[kept++] = attrs[i];
        }
    }
    *n = kept;
}

static void strip_media(sdp_media *m)
{
    strip_verbatim(m->attrs, &m->n_attrs);
    clear_str(&m->ice_ufrag);
    clear_str(&m->ice_pwd);
    clear_str(&m->ice_options);
    clear_str(&m->fingerprint);
    clear_str(&m->setup);
    sdp_strlist_free_(m->candidates, m->n_candidates);
    m->candidates = NULL;
    m->n_candidates = 0;
    m->end_of_candidates = false;
}

void sdp_strip_transport(sdp_session *s)
{
    if (!s)
        return;
    clear_str(&s->ice_ufrag);
    clear_str(&s->ice_pwd);
    clear_str(&s->ice_options);
    clear_str(&s->fingerprint);
    clear_str(&s->setup);
    s->ice_lite = false;
    strip_verbatim(s->attrs, &s->n_attrs);
    for (size_t i = 0; i < s->n_media; i++)
        strip_media(&s->media[i]);
}

static int set_media_transport(sdp_media *m, const char *ufrag, const char *pwd,
                               const char *fingerprint, const char *setup,
                               const char *const *candidates, size_t n, bool eoc)
{
    strip_media(m);
    if (sdp_set_str_(&m->ice_ufrag, ufrag) < 0 || sdp_set_str_(&m->ice_pwd, pwd) < 0 ||
        sdp_set_str_(&m->fingerprint, fingerprint) < 0 || sdp_set_str_(&m->setup, setup) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *c = candidates[i];
        if (!c)
            continue;
        if (strncmp(c, "a=", 2) == 0)
            c += 2;
        /* tolerate a line end left by a caller that split candidate text on '\n' */
        size_t len = strcspn(c, "\r\n");
        char *copy = sdp_strndup_(c, len);
        char **slot = copy ? sdp_push_(&m->candidates, &m->n_candidates, sizeof(char *)) : NULL;
        if (!slot) {
            free(copy);
            return -1;
        }
        *slot = copy;
    }
    m->end_of_candidates = eoc;
    return 0;
}

int sdp_set_transport(sdp_session *s, const char *ufrag, const char *pwd,
                      const char *fingerprint, const char *setup, const char *const *candidates,
                      size_t n_candidates, bool end_of_candidates)
{
    if (!s || n_candidates > SDP_MAX_CANDIDATES || (n_candidates && !candidates))
        return -1;
    sdp_strip_transport(s);
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *m = &s->media[i];
        if (m->rejected)
            continue;
        if (set_media_transport(m, ufrag, pwd, fingerprint, setup, candidates, n_candidates,
                                end_of_candidates) < 0)
            return -1;
    }
    return 0;
}

int sdp_set_ice_options(sdp_session *s, const char *options)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *m = &s->media[i];
        if (!m->rejected && sdp_set_str_(&m->ice_options, options) < 0)
            return -1;
    }
    return 0;
}

static int push_ssrc_line(sdp_media *m, uint32_t ssrc, const char *attr, const char *value)
{
    if (m->n_ssrcs >= SDP_MAX_SSRCS)
        return -1;
    char *a = sdp_strdup_(attr);
    char *v = sdp_strdup_(value);
    sdp_ssrc *e = (a && (v || !value)) ? sdp_push_(&m->ssrcs, &m->n_ssrcs, sizeof(sdp_ssrc))
                                       : NULL;
    if (!e) {
        free(a);
        free(v);
        return -1;
    }
    e->ssrc = ssrc;
    e->attr = a;
    e->value = v;
    return 0;
}

/* Values are written into SDP lines: refuse anything that would break the line. */
static bool safe_token(const char *s)
{
    if (!s || !*s || strlen(s) > 255)
        return false;
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

int sdp_add_ssrc(sdp_media *m, uint32_t ssrc, const char *cname, const char *msid_stream,
                 const char *msid_track)
{
    if (!m || !safe_token(cname) || (msid_stream && !safe_token(msid_stream)) ||
        (msid_track && !safe_token(msid_track)))
        return -1;
    if (push_ssrc_line(m, ssrc, "cname", cname) < 0)
        return -1;
    if (!msid_stream)
        return 0;
    char msid[520];
    if (msid_track)
        snprintf(msid, sizeof(msid), "%s %s", msid_stream, msid_track);
    else
        snprintf(msid, sizeof(msid), "%s", msid_stream);
    if (push_ssrc_line(m, ssrc, "msid", msid) < 0)
        return -1;
    if (!m->msid && sdp_set_str_(&m->msid, msid) < 0)
        return -1;
    return 0;
}

void sdp_clear_ssrcs(sdp_media *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_ssrcs; i++) {
        free(m->ssrcs[i].attr);
        free(m->ssrcs[i].value);
    }
    free(m->ssrcs);
    m->ssrcs = NULL;
    m->n_ssrcs = 0;
    for (size_t i = 0; i < m->n_ssrc_groups; i++)
        free(m->ssrc_groups[i].semantics);
    free(m->ssrc_groups);
    m->ssrc_groups = NULL;
    m->n_ssrc_groups = 0;
    free(m->msid);
    m->msid = NULL;
    /* further a=msid lines were kept verbatim */
    size_t kept = 0;
    for (size_t i = 0; i < m->n_attrs; i++) {
        if (m->attrs[i].type == 'a' && strcmp(m->attrs[i].name, "msid") == 0) {
            free(m->attrs[i].name);
            free(m->attrs[i].value);
        } else {
            m->attrs[kept++] = m->attrs[i];
        }
    }
    m->n_attrs = kept;
}

int sdp_add_ssrc_group(sdp_media *m, const char *semantics, const uint32_t *ssrcs, size_t n)
{
    if (!m || !safe_token(semantics) || !ssrcs || n == 0 || n > SDP_MAX_GROUP_SSRCS ||
        m->n_ssrc_groups >= SDP_MAX_SSRC_GROUPS)
        return -1;
    char *sem = sdp_strdup_(semantics);
    sdp_ssrc_group *g = sem ? sdp_push_(&m->ssrc_groups, &m->n_ssrc_groups,
                                        sizeof(sdp_ssrc_group))
                            : NULL;
    if (!g) {
        free(sem);
        return -1;
    }
    g->semantics = sem;
    memcpy(g->ssrcs, ssrcs, n * sizeof(uint32_t));
    g->n_ssrcs = n;
    return 0;
}

int sdp_set_direction(sdp_session *s, size_t idx, sdp_direction d)
{
    if (!s || idx >= s->n_media || d > SDP_DIR_INACTIVE)
        return -1;
    s->media[idx].dir = d;
    return 0;
}

/* ---- trimming a description for a relay ---- */

int sdp_media_remove_payload(sdp_media *m, int pt)
{
    int found = -1;
    for (size_t i = 0; i < m->n_payloads; i++)
        if (m->payloads[i].pt == pt)
            found = (int)i;
    if (found < 0)
        return -1;
    sdp_payload_clear_(&m->payloads[found]);
    memmove(&m->payloads[found], &m->payloads[found + 1], (m->n_payloads - (size_t)found - 1) * sizeof *m->payloads);
    m->n_payloads--;
    char token[8];
    snprintf(token, sizeof token, "%d", pt);
    size_t kept = 0;
    for (size_t i = 0; i < m->n_formats; i++) {
        if (strcmp(m->formats[i], token) == 0)
            free(m->formats[i]);
        else
            m->formats[kept++] = m->formats[i];
    }
    m->n_formats = kept;
    return 0;
}

void sdp_media_remove_attrs(sdp_media *m, const char *name)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->n_attrs; i++) {
        if (m->attrs[i].type == 'a' && strcmp(m->attrs[i].name, name) == 0) {
            free(m->attrs[i].name);
            free(m->attrs[i].value);
        } else {
            m->attrs[kept++] = m->attrs[i];
        }
    }
    m->n_attrs = kept;
}

int sdp_media_remove_extmap(sdp_media *m, size_t idx)
{
    if (idx >= m->n_extmaps)
        return -1;
    free(m->extmaps[idx].uri);
    free(m->extmaps[idx].params);
    memmove(&m->extmaps[idx], &m->extmaps[idx + 1], (m->n_extmaps - idx - 1) * sizeof *m->extmaps);
    m->n_extmaps--;
    return 0;
}
