/*
 * sdp_write.c: serialises an sdp_session back to text (CRLF), in the order RFC 8866 asks
 * for (v o s i u e p c b t r z k a at session level; m i c b k a in a media section) and,
 * for attributes, roughly the order browsers use, so that answers look familiar.
 *
 * Any string containing CR or LF makes the write fail: the model can be edited by code
 * (plugins, the core) and a stray line break would inject lines into the SDP.
 */
#include "proto/sdp_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct writer {
    char *out;
    size_t cap;
    size_t len;
    bool failed;
} writer;

static void put(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(writer *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    size_t room = w->cap - w->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->out + w->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        w->failed = true;
        return;
    }
    w->len += (size_t)n;
}

/* Guards every model string that goes into a line. */
static const char *safe(writer *w, const char *s)
{
    if (!s)
        return "";
    if (strpbrk(s, "\r\n"))
        w->failed = true;
    return s;
}

static void put_attrs(writer *w, const sdp_attr *a, size_t n, bool attributes)
{
    for (size_t i = 0; i < n; i++) {
        if ((a[i].type == 'a') != attributes)
            continue;
        if (a[i].value)
            put(w, "%c=%s:%s\r\n", a[i].type, safe(w, a[i].name), safe(w, a[i].value));
        else
            put(w, "%c=%s\r\n", a[i].type, safe(w, a[i].name));
    }
}

/* Other (non a=) lines of the given letters, in their stored order. */
static void put_lines_of(writer *w, const sdp_attr *a, size_t n, const char *letters)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].type != 'a' && strchr(letters, a[i].type))
            put(w, "%c=%s\r\n", a[i].type, safe(w, a[i].name));
    }
}

static void put_opt(writer *w, const char *name, const char *value)
{
    if (value)
        put(w, "a=%s:%s\r\n", name, safe(w, value));
}

static void put_session(writer *w, const sdp_session *s)
{
    put(w, "v=0\r\n");
    put(w, "o=%s %s %llu %s %s %s\r\n", safe(w, s->origin_user ? s->origin_user : "-"),
        safe(w, s->origin_sess_id ? s->origin_sess_id : "0"),
        (unsigned long long)s->origin_sess_version,
        safe(w, s->origin_nettype ? s->origin_nettype : "IN"),
        safe(w, s->origin_addrtype ? s->origin_addrtype : "IP4"),
        safe(w, s->origin_addr ? s->origin_addr : "127.0.0.1"));
    put(w, "s=%s\r\n", safe(w, s->name ? s->name : "-"));
    put_lines_of(w, s->attrs, s->n_attrs, "iuep");
    if (s->connection)
        put(w, "c=%s\r\n", safe(w, s->connection));
    put_lines_of(w, s->attrs, s->n_attrs, "b");
    put(w, "t=%s\r\n", safe(w, s->timing ? s->timing : "0 0"));
    put_lines_of(w, s->attrs, s->n_attrs, "rzk");
    put_lines_of(w, s->attrs, s->n_attrs, "dfghjlnqwxy"); /* unknown letters, kept last */
    if (s->bundle) {
        put(w, "a=group:BUNDLE");
        for (size_t i = 0; i < s->n_bundle; i++)
            put(w, " %s", safe(w, s->bundle[i]));
        put(w, "\r\n");
    }
    if (s->ice_lite)
        put(w, "a=ice-lite\r\n");
    put_opt(w, "ice-ufrag", s->ice_ufrag);
    put_opt(w, "ice-pwd", s->ice_pwd);
    put_opt(w, "ice-options", s->ice_options);
    put_opt(w, "fingerprint", s->fingerprint);
    put_opt(w, "setup", s->setup);
    if (s->msid_semantic)
        put(w, "a=msid-semantic: %s\r\n", safe(w, s->msid_semantic));
    put_attrs(w, s->attrs, s->n_attrs, true);
}

static void put_payloads(writer *w, const sdp_media *m)
{
    for (size_t i = 0; i < m->n_payloads; i++) {
        const sdp_payload *p = &m->payloads[i];
        if (p->encoding && p->channels)
            put(w, "a=rtpmap:%u %s/%u/%u\r\n", p->pt, safe(w, p->encoding), p->clock_rate,
                p->channels);
        else if (p->encoding)
            put(w, "a=rtpmap:%u %s/%u\r\n", p->pt, safe(w, p->encoding), p->clock_rate);
        for (size_t j = 0; j < p->n_rtcp_fb; j++)
            put(w, "a=rtcp-fb:%u %s\r\n", p->pt, safe(w, p->rtcp_fb[j]));
        if (p->fmtp)
            put(w, "a=fmtp:%u %s\r\n", p->pt, safe(w, p->fmtp));
    }
}

static void put_extmaps(writer *w, const sdp_media *m)
{
    for (size_t i = 0; i < m->n_extmaps; i++) {
        const sdp_extmap *e = &m->extmaps[i];
        put(w, "a=extmap:%u", e->id);
        if (e->dir != SDP_DIR_NONE)
            put(w, "/%s", sdp_direction_name(e->dir));
        put(w, " %s", safe(w, e->uri));
        if (e->params)
            put(w, " %s", safe(w, e->params));
        put(w, "\r\n");
    }
}

static void put_ssrcs(writer *w, const sdp_media *m)
{
    for (size_t i = 0; i < m->n_ssrc_groups; i++) {
        const sdp_ssrc_group *g = &m->ssrc_groups[i];
        put(w, "a=ssrc-group:%s", safe(w, g->semantics));
        for (size_t j = 0; j < g->n_ssrcs && j < SDP_MAX_GROUP_SSRCS; j++)
            put(w, " %u", g->ssrcs[j]);
        put(w, "\r\n");
    }
    for (size_t i = 0; i < m->n_ssrcs; i++) {
        const sdp_ssrc *e = &m->ssrcs[i];
        if (e->value)
            put(w, "a=ssrc:%u %s:%s\r\n", e->ssrc, safe(w, e->attr), safe(w, e->value));
        else
            put(w, "a=ssrc:%u %s\r\n", e->ssrc, safe(w, e->attr));
    }
}

static void put_media(writer *w, const sdp_media *m)
{
    if (m->n_formats == 0) {
        w->failed = true;
        return;
    }
    put(w, "m=%s %u", safe(w, m->type_name ? m->type_name : "audio"), m->port);
    if (m->port_count)
        put(w, "/%u", m->port_count);
    put(w, " %s", safe(w, m->proto ? m->proto : "UDP/TLS/RTP/SAVPF"));
    for (size_t i = 0; i < m->n_formats; i++)
        put(w, " %s", safe(w, m->formats[i]));
    put(w, "\r\n");
    put_lines_of(w, m->attrs, m->n_attrs, "i");
    if (m->connection)
        put(w, "c=%s\r\n", safe(w, m->connection));
    put_lines_of(w, m->attrs, m->n_attrs, "bk");
    put_lines_of(w, m->attrs, m->n_attrs, "defghjlnpqrstuwxyz");
    put_opt(w, "ice-ufrag", m->ice_ufrag);
    put_opt(w, "ice-pwd", m->ice_pwd);
    put_opt(w, "ice-options", m->ice_options);
    put_opt(w, "fingerprint", m->fingerprint);
    put_opt(w, "setup", m->setup);
    put_opt(w, "mid", m->mid);
    if (m->bundle_only)
        put(w, "a=bundle-only\r\n");
    put_extmaps(w, m);
    if (m->dir != SDP_DIR_NONE)
        put(w, "a=%s\r\n", sdp_direction_name(m->dir));
    put_opt(w, "msid", m->msid);
    if (m->rtcp_mux)
        put(w, "a=rtcp-mux\r\n");
    if (m->rtcp_mux_only)
        put(w, "a=rtcp-mux-only\r\n");
    if (m->rtcp_rsize)
        put(w, "a=rtcp-rsize\r\n");
    put_payloads(w, m);
    if (m->sctp_port)
        put(w, "a=sctp-port:%u\r\n", m->sctp_port);
    if (m->has_max_message_size)
        put(w, "a=max-message-size:%u\r\n", m->max_message_size);
    put_attrs(w, m->attrs, m->n_attrs, true);
    put_ssrcs(w, m);
    for (size_t i = 0; i < m->n_candidates; i++)
        put(w, "a=%s\r\n", safe(w, m->candidates[i]));
    if (m->end_of_candidates)
        put(w, "a=end-of-candidates\r\n");
}

int sdp_write(const sdp_session *s, char *out, size_t cap)
{
    if (!s || !out || cap == 0 || s->n_media == 0)
        return -1;
    writer w = {out, cap, 0, false};
    put_session(&w, s);
    for (size_t i = 0; i < s->n_media; i++)
        put_media(&w, &s->media[i]);
    if (w.failed || w.len > SDP_MAX_TEXT) {
        out[0] = '\0';
        return -1;
    }
    return (int)w.len;
}

char *sdp_write_alloc(const sdp_session *s)
{
    /* Start near the usual size and grow; the parse limit bounds the final size too. */
    size_t cap = 4096;
    while (cap <= 2 * SDP_MAX_TEXT) {
        char *buf = malloc(cap);
        if (!buf)
            return NULL;
        if (sdp_write(s, buf, cap) >= 0)
            return buf;
        free(buf);
        cap *= 2;
    }
    return NULL;
}

sdp_session *sdp_clone(const sdp_session *s)
{
    char *text = sdp_write_alloc(s);
    if (!text)
        return NULL;
    sdp_session *copy = NULL;
    if (sdp_parse(text, strlen(text), &copy, NULL, 0) != 0)
        copy = NULL;
    free(text);
    return copy;
}
