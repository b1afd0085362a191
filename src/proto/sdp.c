/*
 * sdp.c: the SDP parser, sdp_free and the small helpers every sdp*.c file shares.
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

/* ---- shared helpers ---------------------------------------------------------------- */

char *sdp_strndup_(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *sdp_strdup_(const char *s)
{
    return s ? sdp_strndup_(s, strlen(s)) : NULL;
}

void *sdp_push_(void *arr_ptr, size_t *n, size_t elem)
{
    void **arr = arr_ptr;
    char *grown = realloc(*arr, (*n + 1) * elem);
    if (!grown)
        return NULL;
    *arr = grown;
    memset(grown + *n * elem, 0, elem);
    return grown + (*n)++ * elem;
}

int sdp_strlist_push_(char ***list, size_t *n, const char *s)
{
    char *copy = sdp_strdup_(s);
    if (!copy)
        return -1;
    char **slot = sdp_push_(list, n, sizeof(char *));
    if (!slot) {
        free(copy);
        return -1;
    }
    *slot = copy;
    return 0;
}

void sdp_strlist_free_(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

int sdp_set_str_(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && !(copy = sdp_strdup_(src)))
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

int sdp_attr_push_(sdp_attr **attrs, size_t *n, char type, const char *name, const char *value)
{
    if (*n >= SDP_MAX_ATTRS)
        return -1;
    char *nm = sdp_strdup_(name);
    char *val = value ? sdp_strdup_(value) : NULL;
    sdp_attr *a = (nm && (val || !value)) ? sdp_push_(attrs, n, sizeof(sdp_attr)) : NULL;
    if (!a) {
        free(nm);
        free(val);
        return -1;
    }
    a->type = type;
    a->name = nm;
    a->value = val;
    return 0;
}

bool sdp_parse_uint_(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool sdp_streq_nocase_(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
        char cb = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
        if (ca != cb)
            return false;
    }
    return *a == *b;
}

void sdp_payload_clear_(sdp_payload *p)
{
    free(p->encoding);
    free(p->fmtp);
    sdp_strlist_free_(p->rtcp_fb, p->n_rtcp_fb);
    memset(p, 0, sizeof(*p));
}

static void attrs_free(sdp_attr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].value);
    }
    free(a);
}

void sdp_media_clear_(sdp_media *m)
{
    free(m->type_name);
    free(m->proto);
    sdp_strlist_free_(m->formats, m->n_formats);
    free(m->connection);
    free(m->mid);
    free(m->ice_ufrag);
    free(m->ice_pwd);
    free(m->ice_options);
    free(m->fingerprint);
    free(m->setup);
    sdp_strlist_free_(m->candidates, m->n_candidates);
    for (size_t i = 0; i < m->n_payloads; i++)
        sdp_payload_clear_(&m->payloads[i]);
    free(m->payloads);
    for (size_t i = 0; i < m->n_extmaps; i++) {
        free(m->extmaps[i].uri);
        free(m->extmaps[i].params);
    }
    free(m->extmaps);
    for (size_t i = 0; i < m->n_ssrcs; i++) {
        free(m->ssrcs[i].attr);
        free(m->ssrcs[i].value);
    }
    free(m->ssrcs);
    for (size_t i = 0; i < m->n_ssrc_groups; i++)
        free(m->ssrc_groups[i].semantics);
    free(m->ssrc_groups);
    free(m->msid);
    attrs_free(m->attrs, m->n_attrs);
    memset(m, 0, sizeof(*m));
}

void sdp_free(sdp_session *s)
{
    if (!s)
        return;
    free(s->origin_user);
    free(s->origin_sess_id);
    free(s->origin_nettype);
    free(s->origin_addrtype);
    free(s->origin_addr);
    free(s->name);
    free(s->timing);
    free(s->connection);
    sdp_strlist_free_(s->bundle, s->n_bundle);
    free(s->msid_semantic);
    free(s->ice_ufrag);
    free(s->ice_pwd);
    free(s->ice_options);
    free(s->fingerprint);
    free(s->setup);
    attrs_free(s->attrs, s->n_attrs);
    for (size_t i = 0; i < s->n_media; i++)
        sdp_media_clear_(&s->media[i]);
    free(s->media);
    free(s);
}

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

/* A span of the current line. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* Splits the next space-separated token off *rest. Returns false when none is left. */
static bool next_token(span *rest, span *tok)
{
    while (rest->n && rest->p[0] == ' ') {
        rest->p++;
        rest->n--;
    }
    if (!rest->n)
        return false;
    size_t i = 0;
    while (i < rest->n && rest->p[i] != ' ')
        i++;
    tok->p = rest->p;
    tok->n = i;
    rest->p += i;
    rest->n -= i;
    return true;
}

static bool span_eq(span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_uint(span s, uint64_t max, uint64_t *out)
{
    return sdp_parse_uint_(s.p, s.n, max, out);
}

/* Token characters of RFC 8866 (visible ASCII minus a few separators). */
static bool is_token(span s)
{
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[]{}", c))
            return false;
    }
    return true;
}

static bool is_visible(span s)
{
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static char *span_dup(parser *p, span s)
{
    char *d = sdp_strndup_(s.p, s.n);
    if (!d)
        oom(p);
    return d;
}

/* Stores a copy of s in *dst; a second occurrence is an error (dup_name says what). */
static int set_once(parser *p, char **dst, span s, const char *dup_name)
{
    if (*dst)
        return fail(p, "duplicate a=%s", dup_name);
    return (*dst = span_dup(p, s)) ? 0 : -1;
}

static sdp_direction direction_from(span s)
{
    if (span_eq(s, "sendrecv"))
        return SDP_DIR_SENDRECV;
    if (span_eq(s, "sendonly"))
        return SDP_DIR_SENDONLY;
    if (span_eq(s, "recvonly"))
        return SDP_DIR_RECVONLY;
    if (span_eq(s, "inactive"))
        return SDP_DIR_INACTIVE;
    return SDP_DIR_NONE;
}

/* ---- transport attribute values ---------------------------------------------------- */

static bool is_ice_chars(span s, size_t min, size_t max)
{
    if (s.n < min || s.n > max)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "sha-256 AB:CD:..." : a hash token, one space, 2..64 hex pairs separated by ':'. */
static bool valid_fingerprint(span v)
{
    span rest = v, hash, hex;
    if (!next_token(&rest, &hash) || !is_token(hash) || !next_token(&rest, &hex))
        return false;
    span extra;
    if (next_token(&rest, &extra))
        return false;
    if (hex.n < 5 || hex.n > 64 * 3 - 1 || (hex.n + 1) % 3 != 0)
        return false;
    for (size_t i = 0; i < hex.n; i++) {
        if (i % 3 == 2 ? hex.p[i] != ':' : !is_hex(hex.p[i]))
            return false;
    }
    return true;
}

static bool valid_setup(span v)
{
    return span_eq(v, "actpass") || span_eq(v, "active") || span_eq(v, "passive") ||
           span_eq(v, "holdconn");
}

/* Attributes that may appear at both levels; returns 1 when handled, 0 when not ours,
 * -1 on error. */
static int parse_transport_attr(parser *p, span name, span val, bool has_val, char **ufrag,
                                char **pwd, char **options, char **fingerprint, char **setup)
{
    if (span_eq(name, "ice-ufrag")) {
        if (!has_val || !is_ice_chars(val, 1, 256))
            return fail(p, "bad a=ice-ufrag");
        return set_once(p, ufrag, val, "ice-ufrag") < 0 ? -1 : 1;
    }
    if (span_eq(name, "ice-pwd")) {
        if (!has_val || !is_ice_chars(val, 1, 256))
            return fail(p, "bad a=ice-pwd");
        return set_once(p, pwd, val, "ice-pwd") < 0 ? -1 : 1;
    }
    if (span_eq(name, "ice-options")) {
        if (!has_val || val.n == 0)
            return fail(p, "bad a=ice-options");
        return set_once(p, options, val, "ice-options") < 0 ? -1 : 1;
    }
    if (span_eq(name, "fingerprint")) {
        if (!has_val || !valid_fingerprint(val))
            return fail(p, "bad a=fingerprint");
        if (*fingerprint) /* RFC 8122 allows several; the first is the one we check */
            return 0;
        return (*fingerprint = span_dup(p, val)) ? 1 : -1;
    }
    if (span_eq(name, "setup")) {
        if (!has_val || !valid_setup(val))
            return fail(p, "bad a=setup");
        return set_once(p, setup, val, "setup") < 0 ? -1 : 1;
    }
    return 0;
}

/* ---- session level ------------------------------------------------------------------ */

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
static int parse_origin(parser *p, span v)
{
    sdp_session *s = p->s;
    span t[6], extra;
    for (int i = 0; i < 6; i++) {
        if (!next_token(&v, &t[i]))
            return fail(p, "o= needs 6 fields");
    }
    if (next_token(&v, &extra))
        return fail(p, "o= has more than 6 fields");
    uint64_t id, ver;
    if (!span_uint(t[1], UINT64_MAX, &id) || !span_uint(t[2], UINT64_MAX, &ver))
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

static int parse_bundle_group(parser *p, span v)
{
    span sem, mid;
    if (!next_token(&v, &sem))
        return fail(p, "empty a=group");
    while (next_token(&v, &mid)) {
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

static int keep_attr(parser *p, sdp_attr **attrs, size_t *n, span name, span val, bool has_val)
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

static int parse_session_attr(parser *p, span name, span val, bool has_val)
{
    sdp_session *s = p->s;
    int r = parse_transport_attr(p, name, val, has_val, &s->ice_ufrag, &s->ice_pwd,
                                 &s->ice_options, &s->fingerprint, &s->setup);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (span_eq(name, "group") && has_val && val.n > 7 && memcmp(val.p, "BUNDLE", 6) == 0 &&
        (val.p[6] == ' ') && !s->bundle)
        return parse_bundle_group(p, val);
    if (span_eq(name, "msid-semantic") && has_val && !s->msid_semantic) {
        while (val.n && val.p[0] == ' ') {
            val.p++;
            val.n--;
        }
        return (s->msid_semantic = span_dup(p, val)) ? 0 : -1;
    }
    if (span_eq(name, "ice-lite") && !has_val) {
        s->ice_lite = true;
        return 0;
    }
    return keep_attr(p, &s->attrs, &s->n_attrs, name, val, has_val);
}

/* ---- m= line ----------------------------------------------------------------------- */

static sdp_media_type media_type_from(span t)
{
    if (span_eq(t, "audio"))
        return SDP_MEDIA_AUDIO;
    if (span_eq(t, "video"))
        return SDP_MEDIA_VIDEO;
    if (span_eq(t, "application"))
        return SDP_MEDIA_APPLICATION;
    return SDP_MEDIA_OTHER;
}

static bool proto_is_rtp(const char *proto)
{
    return strstr(proto, "RTP/") != NULL;
}

static int add_format(parser *p, sdp_media *m, span f)
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
    if (!span_uint(f, 127, &pt))
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
static int parse_media_line(parser *p, span v)
{
    sdp_session *s = p->s;
    if (s->n_media >= SDP_MAX_MEDIA)
        return fail(p, "more than %u m= lines", SDP_MAX_MEDIA);
    span type, port, proto, fmt;
    if (!next_token(&v, &type) || !next_token(&v, &port) || !next_token(&v, &proto))
        return fail(p, "bad m= line");
    if (!is_token(type) || !is_visible(proto))
        return fail(p, "bad m= line");
    span count = {NULL, 0};
    for (size_t i = 0; i < port.n; i++) {
        if (port.p[i] == '/') {
            count.p = port.p + i + 1;
            count.n = port.n - i - 1;
            port.n = i;
            break;
        }
    }
    uint64_t pv, cv = 0;
    if (!span_uint(port, 65535, &pv) || (count.p && !span_uint(count, 65535, &cv)))
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
    while (next_token(&v, &fmt)) {
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
static sdp_payload *payload_prefix(parser *p, span *v, bool *bad)
{
    span rest = *v, pt;
    uint64_t n;
    *bad = false;
    if (!next_token(&rest, &pt)) {
        *bad = true;
        return NULL;
    }
    if (!span_uint(pt, 127, &n)) {
        *bad = !span_eq(pt, "*"); /* wildcard rtcp-fb is kept verbatim */
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
static int parse_rtpmap(parser *p, sdp_payload *pl, span v)
{
    span enc = v, rate = {NULL, 0}, ch = {NULL, 0};
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
    if (!is_token(enc) || !span_uint(rate, UINT32_MAX, &r) || r == 0 ||
        (ch.p && (!span_uint(ch, 65535, &c) || c == 0)))
        return fail(p, "bad a=rtpmap");
    if (pl->encoding)
        return fail(p, "duplicate a=rtpmap for payload type %u", pl->pt);
    pl->clock_rate = (uint32_t)r;
    pl->channels = (uint16_t)c;
    return (pl->encoding = span_dup(p, enc)) ? 0 : -1;
}

static int parse_payload_attr(parser *p, span name, span val, bool has_val, bool *handled)
{
    bool bad;
    span v = val;
    *handled = false;
    if (!has_val)
        return fail(p, "a=%.*s without value", (int)name.n, name.p);
    sdp_payload *pl = payload_prefix(p, &v, &bad);
    if (bad)
        return fail(p, "bad a=%.*s", (int)name.n, name.p);
    if (!pl)
        return 0;
    *handled = true;
    if (span_eq(name, "rtpmap"))
        return parse_rtpmap(p, pl, v);
    if (span_eq(name, "fmtp")) {
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
static int parse_extmap(parser *p, span v)
{
    sdp_media *m = p->m;
    span idt, uri;
    if (!next_token(&v, &idt) || !next_token(&v, &uri) || !is_visible(uri))
        return fail(p, "bad a=extmap");
    sdp_direction dir = SDP_DIR_NONE;
    const char *slash = memchr(idt.p, '/', idt.n);
    if (slash) {
        span d = {slash + 1, (size_t)(idt.p + idt.n - slash - 1)};
        dir = direction_from(d);
        if (dir == SDP_DIR_NONE)
            return fail(p, "bad a=extmap direction");
        idt.n = (size_t)(slash - idt.p);
    }
    uint64_t id;
    if (!span_uint(idt, 255, &id) || id == 0)
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
static int parse_ssrc(parser *p, span v)
{
    sdp_media *m = p->m;
    span id;
    uint64_t ssrc;
    if (!next_token(&v, &id) || !span_uint(id, UINT32_MAX, &ssrc))
        return fail(p, "bad a=ssrc");
    while (v.n && v.p[0] == ' ') {
        v.p++;
        v.n--;
    }
    const char *colon = memchr(v.p, ':', v.n);
    span attr = {v.p, colon ? (size_t)(colon - v.p) : v.n};
    if (!is_token(attr))
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
        span val = {colon + 1, (size_t)(v.p + v.n - colon - 1)};
        if (!(e->value = span_dup(p, val)))
            return -1;
    }
    return 0;
}

/* a=ssrc-group:<semantics> <ssrc> ... */
static int parse_ssrc_group(parser *p, span v)
{
    sdp_media *m = p->m;
    span sem, id;
    if (!next_token(&v, &sem) || !is_token(sem))
        return fail(p, "bad a=ssrc-group");
    if (m->n_ssrc_groups >= SDP_MAX_SSRC_GROUPS)
        return fail(p, "too many a=ssrc-group");
    sdp_ssrc_group g;
    memset(&g, 0, sizeof(g));
    while (next_token(&v, &id)) {
        uint64_t ssrc;
        if (g.n_ssrcs >= SDP_MAX_GROUP_SSRCS || !span_uint(id, UINT32_MAX, &ssrc))
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

static int parse_candidate_attr(parser *p, span name, span val)
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
        return fail(p, "bad a=candidate");
    }
    char **slot = sdp_push_(&m->candidates, &m->n_candidates, sizeof(char *));
    if (!slot) {
        free(text);
        return oom(p);
    }
    *slot = text;
    return 0;
}

static int parse_flag_attr(parser *p, span name, bool *handled)
{
    sdp_media *m = p->m;
    sdp_direction d = direction_from(name);
    *handled = true;
    if (d != SDP_DIR_NONE)
        m->dir = d;
    else if (span_eq(name, "rtcp-mux"))
        m->rtcp_mux = true;
    else if (span_eq(name, "rtcp-mux-only"))
        m->rtcp_mux_only = true;
    else if (span_eq(name, "rtcp-rsize"))
        m->rtcp_rsize = true;
    else if (span_eq(name, "bundle-only"))
        m->bundle_only = true;
    else if (span_eq(name, "end-of-candidates"))
        m->end_of_candidates = true;
    else
        *handled = false;
    return 0;
}

static int parse_uint_attr(parser *p, span val, bool has_val, uint64_t max, uint64_t *out,
                           const char *what)
{
    span tok = val, extra;
    span rest = val;
    if (!has_val || !next_token(&rest, &tok) || next_token(&rest, &extra) ||
        !span_uint(tok, max, out))
        return fail(p, "bad a=%s", what);
    return 0;
}

static int parse_media_attr(parser *p, span name, span val, bool has_val)
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
    if (span_eq(name, "mid")) {
        if (!has_val || !is_visible(val) || val.n > 64)
            return fail(p, "bad a=mid");
        return set_once(p, &m->mid, val, "mid");
    }
    if (span_eq(name, "candidate") && has_val)
        return parse_candidate_attr(p, name, val);
    if (span_eq(name, "rtpmap") || span_eq(name, "fmtp") || span_eq(name, "rtcp-fb")) {
        if (parse_payload_attr(p, name, val, has_val, &handled) < 0)
            return -1;
        if (handled)
            return 0;
    } else if (span_eq(name, "extmap")) {
        return has_val ? parse_extmap(p, val) : fail(p, "bad a=extmap");
    } else if (span_eq(name, "ssrc")) {
        return has_val ? parse_ssrc(p, val) : fail(p, "bad a=ssrc");
    } else if (span_eq(name, "ssrc-group")) {
        return has_val ? parse_ssrc_group(p, val) : fail(p, "bad a=ssrc-group");
    } else if (span_eq(name, "msid") && has_val && !m->msid) {
        if (val.n == 0)
            return fail(p, "bad a=msid");
        return (m->msid = span_dup(p, val)) ? 0 : -1;
    } else if (span_eq(name, "sctp-port")) {
        uint64_t port;
        if (parse_uint_attr(p, val, has_val, 65535, &port, "sctp-port") < 0 || port == 0)
            return fail(p, "bad a=sctp-port");
        m->sctp_port = (uint16_t)port;
        return 0;
    } else if (span_eq(name, "max-message-size")) {
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

static int parse_attr_line(parser *p, span v)
{
    const char *colon = memchr(v.p, ':', v.n);
    span name = {v.p, colon ? (size_t)(colon - v.p) : v.n};
    span val = {colon ? colon + 1 : v.p + v.n, colon ? (size_t)(v.p + v.n - colon - 1) : 0};
    if (!is_token(name))
        return fail(p, "bad attribute name");
    if (p->m)
        return parse_media_attr(p, name, val, colon != NULL);
    return parse_session_attr(p, name, val, colon != NULL);
}

static int keep_line(parser *p, char type, span v)
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

static int parse_line(parser *p, char type, span v)
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
        span v = {line + 2, n - 2};
        if (!seen_v) {
            if (line[0] != 'v' || !span_eq(v, "0"))
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
