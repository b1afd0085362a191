/*
 * sdp_lex.c: the parser's lexical helpers: tokens of a line (sdp_span views, never copies)
 * and the syntax checks of values the core relies on (ICE credentials, fingerprints, setup).
 */
#include "proto/sdp_internal.h"

#include <string.h>

/* Splits the next space-separated token off *rest. Returns false when none is left. */
bool sdp_next_token_(sdp_span *rest, sdp_span *tok)
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

bool sdp_span_eq_(sdp_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

bool sdp_span_uint_(sdp_span s, uint64_t max, uint64_t *out)
{
    return sdp_parse_uint_(s.p, s.n, max, out);
}

/* Token characters of RFC 8866 (visible ASCII minus a few separators). */
bool sdp_is_token_(sdp_span s)
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

bool sdp_is_visible_(sdp_span s)
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

sdp_direction sdp_direction_from_(sdp_span s)
{
    if (sdp_span_eq_(s, "sendrecv"))
        return SDP_DIR_SENDRECV;
    if (sdp_span_eq_(s, "sendonly"))
        return SDP_DIR_SENDONLY;
    if (sdp_span_eq_(s, "recvonly"))
        return SDP_DIR_RECVONLY;
    if (sdp_span_eq_(s, "inactive"))
        return SDP_DIR_INACTIVE;
    return SDP_DIR_NONE;
}

bool sdp_is_ice_chars_(sdp_span s, size_t min, size_t max)
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
bool sdp_valid_fingerprint_(sdp_span v)
{
    sdp_span rest = v, hash, hex;
    if (!sdp_next_token_(&rest, &hash) || !sdp_is_token_(hash) || !sdp_next_token_(&rest, &hex))
        return false;
    sdp_span extra;
    if (sdp_next_token_(&rest, &extra))
        return false;
    if (hex.n < 5 || hex.n > 64 * 3 - 1 || (hex.n + 1) % 3 != 0)
        return false;
    for (size_t i = 0; i < hex.n; i++) {
        if (i % 3 == 2 ? hex.p[i] != ':' : !is_hex(hex.p[i]))
            return false;
    }
    return true;
}

bool sdp_valid_setup_(sdp_span v)
{
    return sdp_span_eq_(v, "actpass") || sdp_span_eq_(v, "active") || sdp_span_eq_(v, "passive") ||
           sdp_span_eq_(v, "holdconn");
}
