/*
 * sdp.c: the SDP parser (text in, sdp_session out).
 *
 * The parser walks the text line by line (LF or CRLF), never past len. Lines it models are
 * validated and stored in typed fields; anything else is kept verbatim so that sdp_write()
 * gives it back. A malformed line of a kind we model is an error, because the core and the
 * plugins act on those values (a bad rtpmap or extmap would silently mis-route media).
 */
#include "proto/sdp_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parser state and small lexers ------------------------------------------------- */

typedef struct parser {
    sdp_session *s;
    sdp_media *m;     /* current m-line, NULL at session level */
    unsigned line_no;
    char *err;
    size_t errcap;
    bool failed;
} parser;

static int fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser *p, const char *fmt, ...)
{
    if (!p->failed && p->err && p->errcap > 0) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (p->line_no)
            snprintf(p->err, p->errcap, "line %u: %s", p->line_no, msg);
        else
            snprintf(p->err, p->errcap, "%s", msg);
    }
    p->failed = true;
    return -1;
}

static int oom(parser *p)
{
    return fail(p, "out of memory");
}

static char *span_dup(parser *p, sdp_span s)
{
    char *d = sdp_strndup_(s.p, s.n);
    if (!d)
        oom(p);
    return d;
}

/* Stores a copy of s in *dst; a second occurrence is an error (dup_name says what). */
static int set_once(parser *p, char **dst, sdp_span s, const char *dup_name)
{
    if (*dst)
        return fail(p, "duplicate a=%s", dup_name);
    return (*dst = span_dup(p, s)) ? 0 : -1;
}

/* ---- transport attribute values ---------------------------------------------------- */

/* Attributes that may appear at both levels; returns 1 when handled, 0 when not ours,
 * -1 on error. */
static int parse_transport_attr(parser *p, sdp_span name, sdp_span val, bool has_val, char **ufrag,
                                char **pwd, char **options, char **fingerprint, char **setup)
{
    if (sdp_span_eq_(name, "ice-ufrag")) {
        if (!has_val || !sdp_is_ice_chars_(val, 1, 256))
            return fail(p, "bad a=ice-ufrag");
        return set_once(p, ufrag, val, "ice-ufrag") < 0 ? -1 : 1;
    }
    if (sdp_span_eq_(name, "ice-pwd")) {
        if (!has_val || !sdp_is_ice_chars_(val, 1, 256))
            return fail(p, "bad a=ice-pwd");
        return set_once(p, pwd, val, "ice-pwd") < 0 ? -1 : 1;
    }
    if (sdp_span_eq_(name, "ice-options")) {
        if (!has_val || val.n == 0)
            return fail(p, "bad a=ice-options");
        return set_once(p, options, val, "ice-options") < 0 ? -1 : 1;
    }
    if (sdp_span_eq_(name, "fingerprint")) {
        if (!has_val || !sdp_valid_fingerprint_(val))
            return fail(p, "bad a=fingerprint");
        if (*fingerprint) /* RFC 8122 allows several; the first is the one we check */
            return 0;
        return (*fingerprint = span_dup(p, val)) ? 1 : -1;
    }
    if (sdp_span_eq_(name, "setup")) {
        if (!has_val || !sdp_valid_setup_(val))
            return fail(p, "bad a=setup");
        return set_once(p, setup, val, "setup") < 0 ? -1 : 1;
    }
    return 0;
}

/* ---- session level ------------------------------------------------------------------ */

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
static int parse_origin(parser *p, sdp_span v)
{
    sdp_session *s = p->s;
    sdp_span t[6], extra;
    for (int i = 0; i < 6; i++) {
        if (!sdp_next_token_(&v, &t[i]))
            return fail(p, "o= needs 6 fields");
    }
    if (sdp_next_token_(&v, &extra))
        return fail(p, "o= has more than 6 fields");
    uint64_t id, ver;
    if (!sdp_span_uint_(t[1], UINT64_MAX, &id) || !sdp_span_uint_(t[2], UINT64_MAX, &ver))
        return fail(p, "o= session id/version must be numbers");
    if (s->origin_user)
        return fail(p, "duplicate o= line");
    s->origin_sess_version = ver;
    if (!(s->origin_user = span_dup(p, t[0])) || !(s->origin_sess_id = span_dup(p, t[1])) ||
        !(s->origin_nettype = span_dup(p, t[3])) || !(s->origin_addrtype = span_dup(p, t[4])) ||
        !(s->origin_addr = span_dup(p, t[5])))
        return -1;
    return 0;
}

static int parse_bundle_group(parser *p, sdp_span v)
{
    sdp_span sem, mid;
    if (!sdp_next_token_(&v, &sem))
        return fail(p, "empty a=group");
    while (sdp_next_token_(&v, &mid)) {
        if (p->s->n_bundle >= SDP_MAX_MEDIA)
            return fail(p, "too many mids in BUNDLE group");
        char *d = span_dup(p, mid);
        if (!d)
            return -1;
        char **slot = sdp_push_(&p->s->bundle, &p->s->n_bundle, sizeof(char *));
        if (!slot) {
            free(d);
            return oom(p);
        }
        *slot = d;
    }
    return 0;
}

static int keep_attr(parser *p, sdp_attr **attrs, size_t *n, sdp_span name, sdp_span val,
                     bool has_val)
{
    if (*n >= SDP_MAX_ATTRS)
        return fail(p, "too many attributes");
    char *nm = span_dup(p, name);
    char *vv = has_val ? span_dup(p, val) : NULL;
    int r = (nm && (vv || !has_val)) ? sdp_attr_push_(attrs, n, 'a', nm, vv) : -1;
    free(nm);
    free(vv);
    return r < 0 ? oom(p) : 0;
}

static int parse_session_attr(parser *p, sdp_span name, sdp_span val, bool has_val)
{
    sdp_session *s = p->s;
    int r = parse_transport_attr(p, name, val, has_val, &s->ice_ufrag, &s->ice_pwd,
                                 &s->ice_options, &s->fingerprint, &s->setup);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (sdp_span_eq_(name, "group") && has_val && val.n > 7 && memcmp(val.p, "BUNDLE", 6) == 0 &&
        (val.p[6] == ' ') && !s->bundle)
        return parse_bundle_group(p, val);
    if (sdp_span_eq_(name, "msid-semantic") && has_val && !s->msid_semantic) {
        while (val.n && val.p[0] == ' ') {
            val.p++;
            val.n--;
        }
        return (s->msid_semantic = span_dup(p, val)) ? 0 : -1;
    }
    if (sdp_span_eq_(name, "ice-lite") && !has_val) {
        s->ice_lite = true;
        return 0;
    }
    return keep_attr(p, &s->attrs, &s->n_attrs, name, val, has_val);
}

/* ---- m= line ----------------------------------------------------------------------- */

static sdp_media_type media_type_from(sdp_span t)
{
    if (sdp_span_eq_(t, "audio"))
        return SDP_MEDIA_AUDIO;
    if (sdp_span_eq_(t, "video"))
        return SDP_MEDIA_VIDEO;
    if (sdp_span_eq_(t, "application"))
        return SDP_MEDIA_APPLICATION;
    return SDP_MEDIA_OTHER;
}

static bool proto_is_rtp(const char *proto)
{
    return strstr(proto, "RTP/") != NULL;
}

static int add_format(parser *p, sdp_media *m, sdp_span f)
{
    if (m->n_formats >= SDP_MAX_FORMATS)
        return fail(p, "too many formats in m= line");
    char *d = span_dup(p, f);
    if (!d)
        return -1;
    char **slot = sdp_push_(&m->formats, &m->n_formats, sizeof(char *));
    if (!slot) {
        free(d);
        return oom(p);
    }
    *slot = d;
    if (!proto_is_rtp(m->proto))
        return 0;
    uint64_t pt;
    if (!sdp_span_uint_(f, 127, &pt))
        return fail(p, "m= format '%.*s' is not an RTP payload type", (int)f.n, f.p);
    if (sdp_media_payload(m, (int)pt))
        return fail(p, "m= payload type %u listed twice", (unsigned)pt);
    sdp_payload *pl = sdp_push_(&m->payloads, &m->n_payloads, sizeof(sdp_payload));
    if (!pl)
        return oom(p);
    pl->pt = (uint8_t)pt;
    return 0;
}

/* m=<media> <port>[/<count>] <proto> <fmt> ... */
static int parse_media_line(parser *p, sdp_span v)
{
    sdp_session *s = p->s;
    if (s->n_media >= SDP_MAX_MEDIA)
        return fail(p, "more than %u m= lines", SDP_MAX_MEDIA);
    sdp_span type, port, proto, fmt;
    if (!sdp_next_token_(&v, &type) || !sdp_next_token_(&v, &port) || !sdp_next_token_(&v, &proto))
        return fail(p, "bad m= line");
    if (!sdp_is_token_(type) || !sdp_is_visible_(proto))
        return fail(p, "bad m= line");
    sdp_span count = {NULL, 0};
    for (size_t i = 0; i < port.n; i++) {
        if (port.p[i] == '/') {
            count.p = port.p + i + 1;
            count.n = port.n - i - 1;
            port.n = i;
            break;
        }
    }
    uint64_t pv, cv = 0;
    if (!sdp_span_uint_(port, 65535, &pv) || (count.p && !sdp_span_uint_(count, 65535, &cv)))
        return fail(p, "bad port in m= line");
    sdp_media *m = sdp_push_(&s->media, &s->n_media, sizeof(sdp_media));
    if (!m)
        return oom(p);
    p->m = m;
    m->type = media_type_from(type);
    m->port = (uint16_t)pv;
    m->port_count = (uint16_t)cv;
    if (!(m->type_name = span_dup(p, type)) || !(m->proto = span_dup(p, proto)))
        return -1;
    while (sdp_next_token_(&v, &fmt)) {
        if (add_format(p, m, fmt) < 0)
            return -1;
    }
    if (m->n_formats == 0)
        return fail(p, "m= line without formats");
    return 0;
}

/* ---- media-level attributes --------------------------------------------------------- */

/* Leading "<pt> " of rtpmap/fmtp/rtcp-fb; returns the payload or NULL if pt is not a
 * payload type of this m-line (the attribute is then kept verbatim). */
static sdp_payload *payload_prefix(parser *p, sdp_span *v, bool *bad)
{
    sdp_span rest = *v, pt;
    uint64_t n;
    *bad = false;
    if (!sdp_next_token_(&rest, &pt)) {
        *bad = true;
        return NULL;
    }
    if (!sdp_span_uint_(pt, 127, &n)) {
        *bad = !sdp_span_eq_(pt, "*"); /* wildcard rtcp-fb is kept verbatim */
        return NULL;
    }
    while (rest.n && rest.p[0] == ' ') {
        rest.p++;
        rest.n--;
    }
    *v = rest;
    return sdp_media_payload(p->m, (int)n);
}

/* a=rtpmap:<pt> <encoding>/<clock>[/<channels>] */
static int parse_rtpmap(parser *p, sdp_payload *pl, sdp_span v)
{
    sdp_span enc = v, rate = {NULL, 0}, ch = {NULL, 0};
    const char *slash = memchr(v.p, '/', v.n);
    if (!slash)
        return fail(p, "bad a=rtpmap");
    enc.n = (size_t)(slash - v.p);
    rate.p = slash + 1;
    rate.n = v.n - enc.n - 1;
    const char *slash2 = memchr(rate.p, '/', rate.n);
    if (slash2) {
        ch.p = slash2 + 1;
        ch.n = (size_t)(rate.p + rate.n - ch.p);
        rate.n = (size_t)(slash2 - rate.p);
    }
    uint64_t r, c = 0;
    if (!sdp_is_token_(enc) || !sdp_span_uint_(rate, UINT32_MAX, &r) || r == 0 ||
        (ch.p && (!sdp_span_uint_(ch, 65535, &c) || c == 0)))
        return fail(p, "bad a=rtpmap");
    if (pl->encoding)
        return fail(p, "duplicate a=rtpmap for payload type %u", pl->pt);
    pl->clock_rate = (uint32_t)r;
    pl->channels = (uint16_t)c;
    return (pl->encoding = span_dup(p, enc)) ? 0 : -1;
}

static int parse_payload_attr(parser *p, sdp_span name, sdp_span val, bool has_val, bool *handled)
{
    bool bad;
    sdp_span v = val;
    *handled = false;
    if (!has_val)
        return fail(p, "a=%.*s without value", (int)name.n, name.p);
    sdp_payload *pl = payload_prefix(p, &v, &bad);
    if (bad)
        return fail(p, "bad a=%.*s", (int)name.n, name.p);
    if (!pl)
        return 0;
    *handled = true;
    if (sdp_span_eq_(name, "rtpmap"))
        return parse_rtpmap(p, pl, v);
    if (sdp_span_eq_(name, "fmtp")) {
        if (pl->fmtp)
            return fail(p, "duplicate a=fmtp for payload type %u", pl->pt);
        return (pl->fmtp = span_dup(p, v)) ? 0 : -1;
    }
    if (v.n == 0)
        return fail(p, "empty a=rtcp-fb");
    if (pl->n_rtcp_fb >= SDP_MAX_RTCP_FB)
        return fail(p, "too many a=rtcp-fb");
    char *d = span_dup(p, v);
    if (!d)
        return -1;
    char **slot = sdp_push_(&pl->rtcp_fb, &pl->n_rtcp_fb, sizeof(char *));
    if (!slot) {
        free(d);
        return oom(p);
    }
    *slot = d;
    return 0;
}

/* a=extmap:<id>[/<direction>] <uri> [<attributes>] */
static int parse_extmap(parser *p, sdp_span v)
{
    sdp_media *m = p->m;
    sdp_span idt, uri;
    if (!sdp_next_token_(&v, &idt) || !sdp_next_token_(&v, &uri) || !sdp_is_visible_(uri))
        return fail(p, "bad a=extmap");
    sdp_direction dir = SDP_DIR_NONE;
    const char *slash = memchr(idt.p, '/', idt.n);
    if (slash) {
        sdp_span d = {slash + 1, (size_t)(idt.p + idt.n - slash - 1)};
        dir = sdp_direction_from_(d);
        if (dir == SDP_DIR_NONE)
            return fail(p, "bad a=extmap direction");
        idt.n = (size_t)(slash - idt.p);
    }
    uint64_t id;
    if (!sdp_span_uint_(idt, 255, &id) || id == 0)
        return fail(p, "bad a=extmap id");
    for (size_t i = 0; i < m->n_extmaps; i++) {
        if (m->extmaps[i].id == id)
            return fail(p, "a=extmap id %u used twice", (unsigned)id);
    }
    if (m->n_extmaps >= SDP_MAX_EXTMAPS)
        return fail(p, "too many a=extmap");
    while (v.n && v.p[0] == ' ') {
        v.p++;
        v.n--;
    }
    sdp_extmap *e = sdp_push_(&m->extmaps, &m->n_extmaps, sizeof(sdp_extmap));
    if (!e)
        return oom(p);
    e->id = (uint16_t)id;
    e->dir = dir;
    if (!(e->uri = span_dup(p, uri)))
        return -1;
    if (v.n && !(e->params = span_dup(p, v)))
        return -1;
    return 0;
}

/* a=ssrc:<ssrc> <attribute>[:<value>] */
static int parse_ssrc(parser *p, sdp_span v)
{
    sdp_media *m = p->m;
    sdp_span id;
    uint64_t ssrc;
    if (!sdp_next_token_(&v, &id) || !sdp_span_uint_(id, UINT32_MAX, &ssrc))
        return fail(p, "bad a=ssrc");
    while (v.n && v.p[0] == ' ') {
        v.p++;
        v.n--;
    }
    const char *colon = memchr(v.p, ':', v.n);
    sdp_span attr = {v.p, colon ? (size_t)(colon - v.p) : v.n};
    if (!sdp_is_token_(attr))
        return fail(p, "bad a=ssrc attribute");
    if (m->n_ssrcs >= SDP_MAX_SSRCS)
        return fail(p, "too many a=ssrc");
    sdp_ssrc *e = sdp_push_(&m->ssrcs, &m->n_ssrcs, sizeof(sdp_ssrc));
    if (!e)
        return oom(p);
    e->ssrc = (uint32_t)ssrc;
    if (!(e->attr = span_dup(p, attr)))
        return -1;
    if (colon) {
        sdp_span val = {colon + 1, (size_t)(v.p + v.n - colon - 1)};
        if (!(e->value = span_dup(p, val)))
            return -1;
    }
    return 0;
}

/* a=ssrc-group:<semantics> <ssrc> ... */
static int parse_ssrc_group(parser *p, sdp_span v)
{
    sdp_media *m = p->m;
    sdp_span sem, id;
    if (!sdp_next_token_(&v, &sem) || !sdp_is_token_(sem))
        return fail(p, "bad a=ssrc-group");
    if (m->n_ssrc_groups >= SDP_MAX_SSRC_GROUPS)
        return fail(p, "too many a=ssrc-group");
    sdp_ssrc_group g;
    memset(&g, 0, sizeof(g));
    while (sdp_next_token_(&v, &id)) {
        uint64_t ssrc;
        if (g.n_ssrcs >= SDP_MAX_GROUP_SSRCS || !sdp_span_uint_(id, UINT32_MAX, &ssrc))
            return fail(p, "bad a=ssrc-group");
        g.ssrcs[g.n_ssrcs++] = (uint32_t)ssrc;
    }
    if (g.n_ssrcs == 0)
        return fail(p, "a=ssrc-group without ssrcs");
    if (!(g.semantics = span_dup(p, sem)))
        return -1;
    sdp_ssrc_group *e = sdp_push_(&m->ssrc_groups, &m->n_ssrc_groups, sizeof(g));
    if (!e) {
        free(g.semantics);
        return oom(p);
    }
    *e = g;
    return 0;
}

static int keep_attr(parser *p, sdp_attr **attrs, size_t *n, sdp_span name, sdp_span val,
                     bool has_val);

/* A candidate we cannot parse (an unknown type, a zone in an address...) is kept verbatim
 * and left out of m->candidates: one odd candidate must not fail a whole call, and the core
 * only ever sees candidates that sdp_candidate_parse accepts. */
static int parse_candidate_attr(parser *p, sdp_span name, sdp_span val)
{
    sdp_media *m = p->m;
    if (m->n_candidates >= SDP_MAX_CANDIDATES)
        return fail(p, "too many a=candidate");
    size_t n = name.n + 1 + val.n;
    char *text = malloc(n + 1);
    if (!text)
        return oom(p);
    memcpy(text, name.p, name.n);
    text[name.n] = ':';
    memcpy(text + name.n + 1, val.p, val.n);
    text[n] = '\0';
    sdp_candidate c;
    if (sdp_candidate_parse(text, &c) != 0) {
        free(text);
        return keep_attr(p, &m->attrs, &m->n_attrs, name, val, true);
    }
    char **slot = sdp_push_(&m->candidates, &m->n_candidates, sizeof(char *));
    if (!slot) {
        free(text);
        return oom(p);
    }
    *slot = text;
    return 0;
}

static int parse_flag_attr(parser *p, sdp_span name, bool *handled)
{
    sdp_media *m = p->m;
    sdp_direction d = sdp_direction_from_(name);
    *handled = true;
    if (d != SDP_DIR_NONE)
        m->dir = d;
    else if (sdp_span_eq_(name, "rtcp-mux"))
        m->rtcp_mux = true;
    else if (sdp_span_eq_(name, "rtcp-mux-only"))
        m->rtcp_mux_only = true;
    else if (sdp_span_eq_(name, "rtcp-rsize"))
        m->rtcp_rsize = true;
    else if (sdp_span_eq_(name, "bundle-only"))
        m->bundle_only = true;
    else if (sdp_span_eq_(name, "end-of-candidates"))
        m->end_of_candidates = true;
    else
        *handled = false;
    return 0;
}

static int parse_uint_attr(parser *p, sdp_span val, bool has_val, uint64_t max, uint64_t *out,
                           const char *what)
{
    sdp_span tok = val, extra;
    sdp_span rest = val;
    if (!has_val || !sdp_next_token_(&rest, &tok) || sdp_next_token_(&rest, &extra) ||
        !sdp_span_uint_(tok, max, out))
        return fail(p, "bad a=%s", what);
    return 0;
}

static int parse_media_attr(parser *p, sdp_span name, sdp_span val, bool has_val)
{
    sdp_media *m = p->m;
    bool handled;
    int r = parse_transport_attr(p, name, val, has_val, &m->ice_ufrag, &m->ice_pwd,
                                 &m->ice_options, &m->fingerprint, &m->setup);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (!has_val) {
        parse_flag_attr(p, name, &handled);
        if (handled)
            return 0;
    }
    if (sdp_span_eq_(name, "mid")) {
        if (!has_val || !sdp_is_visible_(val) || val.n > 64)
            return fail(p, "bad a=mid");
        return set_once(p, &m->mid, val, "mid");
    }
    if (sdp_span_eq_(name, "candidate") && has_val)
        return parse_candidate_attr(p, name, val);
    if (sdp_span_eq_(name, "rtpmap") || sdp_span_eq_(name, "fmtp") ||
        sdp_span_eq_(name, "rtcp-fb")) {
        if (parse_payload_attr(p, name, val, has_val, &handled) < 0)
            return -1;
        if (handled)
            return 0;
    } else if (sdp_span_eq_(name, "extmap")) {
        return has_val ? parse_extmap(p, val) : fail(p, "bad a=extmap");
    } else if (sdp_span_eq_(name, "ssrc")) {
        return has_val ? parse_ssrc(p, val) : fail(p, "bad a=ssrc");
    } else if (sdp_span_eq_(name, "ssrc-group")) {
        return has_val ? parse_ssrc_group(p, val) : fail(p, "bad a=ssrc-group");
    } else if (sdp_span_eq_(name, "msid") && has_val && !m->msid) {
        if (val.n == 0)
            return fail(p, "bad a=msid");
        return (m->msid = span_dup(p, val)) ? 0 : -1;
    } else if (sdp_span_eq_(name, "sctp-port")) {
        uint64_t port;
        if (parse_uint_attr(p, val, has_val, 65535, &port, "sctp-port") < 0 || port == 0)
            return fail(p, "bad a=sctp-port");
        m->sctp_port = (uint16_t)port;
        return 0;
    } else if (sdp_span_eq_(name, "max-message-size")) {
        uint64_t mms;
        if (parse_uint_attr(p, val, has_val, UINT64_MAX, &mms, "max-message-size") < 0)
            return -1;
        m->max_message_size = mms > UINT32_MAX ? UINT32_MAX : (uint32_t)mms;
        m->has_max_message_size = true;
        return 0;
    }
    return keep_attr(p, &m->attrs, &m->n_attrs, name, val, has_val);
}

/* ---- lines ------------------------------------------------------------------------- */

static int parse_attr_line(parser *p, sdp_span v)
{
    const char *colon = memchr(v.p, ':', v.n);
    sdp_span name = {v.p, colon ? (size_t)(colon - v.p) : v.n};
    sdp_span val = {colon ? colon + 1 : v.p + v.n, colon ? (size_t)(v.p + v.n - colon - 1) : 0};
    if (!sdp_is_token_(name))
        return fail(p, "bad attribute name");
    if (p->m)
        return parse_media_attr(p, name, val, colon != NULL);
    return parse_session_attr(p, name, val, colon != NULL);
}

static int keep_line(parser *p, char type, sdp_span v)
{
    sdp_attr **attrs = p->m ? &p->m->attrs : &p->s->attrs;
    size_t *n = p->m ? &p->m->n_attrs : &p->s->n_attrs;
    if (*n >= SDP_MAX_ATTRS)
        return fail(p, "too many lines");
    char *d = span_dup(p, v);
    if (!d)
        return -1;
    int r = sdp_attr_push_(attrs, n, type, d, NULL);
    free(d);
    return r < 0 ? oom(p) : 0;
}

static int parse_line(parser *p, char type, sdp_span v)
{
    sdp_session *s = p->s;
    switch (type) {
    case 'v':
        return fail(p, "duplicate v= line");
    case 'o':
        return p->m ? fail(p, "o= inside a media section") : parse_origin(p, v);
    case 's':
        if (p->m || s->name)
            return fail(p, "misplaced s= line");
        return (s->name = span_dup(p, v)) ? 0 : -1;
    case 't':
        if (p->m || s->timing)
            return fail(p, "misplaced t= line");
        return (s->timing = span_dup(p, v)) ? 0 : -1;
    case 'c': {
        char **dst = p->m ? &p->m->connection : &s->connection;
        if (*dst)
            return fail(p, "duplicate c= line");
        return (*dst = span_dup(p, v)) ? 0 : -1;
    }
    case 'm':
        return parse_media_line(p, v);
    case 'a':
        return parse_attr_line(p, v);
    default:
        return keep_line(p, type, v);
    }
}

/* Checks done once every line is read: m-lines present, mids unique, BUNDLE coherent. */
static int finish(parser *p)
{
    sdp_session *s = p->s;
    p->line_no = 0;
    if (!s->origin_user)
        return fail(p, "no o= line");
    if (s->n_media == 0)
        return fail(p, "no m= line");
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *m = &s->media[i];
        m->rejected = m->port == 0 && !m->bundle_only;
        for (size_t j = 0; m->mid && j < i; j++) {
            if (s->media[j].mid && strcmp(s->media[j].mid, m->mid) == 0)
                return fail(p, "mid '%s' used twice", m->mid);
        }
    }
    for (size_t i = 0; i < s->n_bundle; i++) {
        if (!sdp_media_by_mid(s, s->bundle[i]))
            return fail(p, "BUNDLE mid '%s' has no m= line", s->bundle[i]);
    }
    return 0;
}

static int parse_lines(parser *p, const char *text, size_t len)
{
    size_t off = 0;
    bool seen_v = false;
    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - off;
        const char *line = text + off;
        off = nl ? end + 1 : len;
        p->line_no++;
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0)
            continue; /* tolerate blank lines (e.g. a trailing one) */
        if (n > SDP_MAX_LINE)
            return fail(p, "line too long");
        if (memchr(line, '\0', n) || memchr(line, '\r', n))
            return fail(p, "control character in line");
        if (n < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
            return fail(p, "not a <type>=<value> line");
        sdp_span v = {line + 2, n - 2};
        if (!seen_v) {
            if (line[0] != 'v' || !sdp_span_eq_(v, "0"))
                return fail(p, "the first line must be v=0");
            seen_v = true;
            continue;
        }
        if (parse_line(p, line[0], v) < 0)
            return -1;
    }
    if (!seen_v)
        return fail(p, "no v= line");
    return finish(p);
}

int sdp_parse(const char *text, size_t len, sdp_session **out, char *err, size_t errcap)
{
    parser p;
    memset(&p, 0, sizeof(p));
    p.err = err;
    p.errcap = errcap;
    if (err && errcap)
        err[0] = '\0';
    if (!out)
        return -1;
    *out = NULL;
    if (!text)
        return fail(&p, "no SDP");
    if (len > SDP_MAX_TEXT)
        return fail(&p, "SDP larger than %u bytes", SDP_MAX_TEXT);
    p.s = calloc(1, sizeof(sdp_session));
    if (!p.s)
        return oom(&p);
    if (parse_lines(&p, text, len) < 0) {
        sdp_free(p.s);
        return -1;
    }
    *out = p.s;
    return 0;
}
