/*
 * sdp_candidate.c: the ICE candidate attribute (RFC 8839 section 5.1):
 *   candidate:<foundation> <component> <transport> <priority> <address> <port>
 *             typ <type> [raddr <addr>] [rport <port>] [tcptype <t>] *(<name> <value>)
 * Trickled candidates arrive through the Janus API from any client, so everything is
 * checked: lengths, charsets, numbers in range, a known type, name/value pairs complete.
 */
#include "proto/sdp_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct cspan {
    const char *p;
    size_t n;
} cspan;

static bool tok(const char **cur, cspan *t)
{
    const char *p = *cur;
    while (*p == ' ')
        p++;
    if (!*p)
        return false;
    const char *start = p;
    while (*p && *p != ' ')
        p++;
    t->p = start;
    t->n = (size_t)(p - start);
    *cur = p;
    return true;
}

static bool teq(cspan t, const char *lit)
{
    return t.n == strlen(lit) && memcmp(t.p, lit, t.n) == 0;
}

static bool tnum(cspan t, uint64_t max, uint64_t *v)
{
    return sdp_parse_uint_(t.p, t.n, max, v);
}

static bool copy_to(char *dst, size_t cap, cspan t)
{
    if (t.n == 0 || t.n >= cap)
        return false;
    memcpy(dst, t.p, t.n);
    dst[t.n] = '\0';
    return true;
}

/* foundation = 1*32 ice-char */
static bool valid_foundation(cspan t)
{
    if (t.n == 0 || t.n > 32)
        return false;
    for (size_t i = 0; i < t.n; i++) {
        char c = t.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* IPv4, IPv6 (hex, ':' and '.') or a host name (letters, digits, '-', '.'). */
static bool valid_address(cspan t)
{
    if (t.n == 0 || t.n > 255)
        return false;
    for (size_t i = 0; i < t.n; i++) {
        char c = t.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static bool parse_type(cspan t, sdp_cand_type *type)
{
    if (teq(t, "host"))
        *type = SDP_CAND_HOST;
    else if (teq(t, "srflx"))
        *type = SDP_CAND_SRFLX;
    else if (teq(t, "prflx"))
        *type = SDP_CAND_PRFLX;
    else if (teq(t, "relay"))
        *type = SDP_CAND_RELAY;
    else
        return false;
    return true;
}

static bool parse_transport(cspan t, char out[8])
{
    if (t.n != 3)
        return false;
    for (size_t i = 0; i < 3; i++) {
        char c = t.p[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out[3] = '\0';
    return strcmp(out, "udp") == 0 || strcmp(out, "tcp") == 0;
}

/* The optional name/value pairs after "typ <type>". */
static int parse_extensions(const char *cur, sdp_candidate *c)
{
    cspan name, val;
    while (tok(&cur, &name)) {
        if (!tok(&cur, &val))
            return -1;
        uint64_t v;
        if (teq(name, "raddr")) {
            if (!valid_address(val) || !copy_to(c->raddr, sizeof(c->raddr), val))
                return -1;
            c->has_raddr = true;
        } else if (teq(name, "rport")) {
            if (!tnum(val, 65535, &v))
                return -1;
            c->rport = (uint16_t)v;
        } else if (teq(name, "tcptype")) {
            if (!(teq(val, "active") || teq(val, "passive") || teq(val, "so")))
                return -1;
            copy_to(c->tcptype, sizeof(c->tcptype), val);
        }
        /* generation, ufrag, network-id, network-cost, ...: ignored */
    }
    return 0;
}

int sdp_candidate_parse(const char *text, sdp_candidate *c)
{
    if (!text || !c || strlen(text) > SDP_MAX_LINE)
        return -1;
    memset(c, 0, sizeof(*c));
    const char *cur = text;
    if (strncmp(cur, "a=", 2) == 0)
        cur += 2;
    if (strncmp(cur, "candidate:", 10) != 0)
        return -1;
    cur += 10;
    if (strpbrk(cur, "\r\n\t"))
        return -1;
    cspan f, comp, tr, prio, addr, port, typ, type;
    if (!tok(&cur, &f) || !tok(&cur, &comp) || !tok(&cur, &tr) || !tok(&cur, &prio) ||
        !tok(&cur, &addr) || !tok(&cur, &port) || !tok(&cur, &typ) || !tok(&cur, &type))
        return -1;
    uint64_t v;
    if (!valid_foundation(f) || !copy_to(c->foundation, sizeof(c->foundation), f))
        return -1;
    if (!tnum(comp, 256, &v) || v == 0)
        return -1;
    c->component = (uint16_t)v;
    if (!parse_transport(tr, c->transport))
        return -1;
    if (!tnum(prio, UINT32_MAX, &v) || v == 0)
        return -1;
    c->priority = (uint32_t)v;
    if (!valid_address(addr) || !copy_to(c->address, sizeof(c->address), addr))
        return -1;
    if (!tnum(port, 65535, &v))
        return -1;
    c->port = (uint16_t)v;
    if (!teq(typ, "typ") || !parse_type(type, &c->type))
        return -1;
    return parse_extensions(cur, c);
}

const char *sdp_cand_type_name(sdp_cand_type t)
{
    switch (t) {
    case SDP_CAND_SRFLX:
        return "srflx";
    case SDP_CAND_PRFLX:
        return "prflx";
    case SDP_CAND_RELAY:
        return "relay";
    case SDP_CAND_HOST:
        break;
    }
    return "host";
}

int sdp_candidate_format(const sdp_candidate *c, char *out, size_t cap)
{
    if (!c || !out || cap == 0)
        return -1;
    int n = snprintf(out, cap, "candidate:%s %u %s %u %s %u typ %s", c->foundation,
                     c->component, c->transport, c->priority, c->address, c->port,
                     sdp_cand_type_name(c->type));
    if (n < 0 || (size_t)n >= cap)
        return -1;
    size_t len = (size_t)n;
    if (c->has_raddr) {
        n = snprintf(out + len, cap - len, " raddr %s rport %u", c->raddr, c->rport);
        if (n < 0 || (size_t)n >= cap - len)
            return -1;
        len += (size_t)n;
    }
    if (c->tcptype[0]) {
        n = snprintf(out + len, cap - len, " tcptype %s", c->tcptype);
        if (n < 0 || (size_t)n >= cap - len)
            return -1;
        len += (size_t)n;
    }
    return (int)len;
}
