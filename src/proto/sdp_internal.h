/*
 * sdp_internal.h: helpers shared by the sdp*.c files (not part of the public API).
 * Strings are malloc'd; list pushes grow by realloc (lists are bounded by the SDP_MAX_*
 * limits, so the quadratic copy cost is irrelevant).
 */
#ifndef PARLEY_PROTO_SDP_INTERNAL_H
#define PARLEY_PROTO_SDP_INTERNAL_H

#include "proto/sdp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

char *sdp_strndup_(const char *s, size_t n);
char *sdp_strdup_(const char *s); /* NULL in, NULL out */
/* Grows *arr (elements of size elem) by one zeroed element; returns it or NULL. */
void *sdp_push_(void *arr_ptr, size_t *n, size_t elem);
/* Appends a copy of s to a string list. Returns 0 or -1. */
int sdp_strlist_push_(char ***list, size_t *n, const char *s);
void sdp_strlist_free_(char **list, size_t n);
/* Replaces *dst with a copy of src (NULL clears). Returns 0 or -1 on allocation failure. */
int sdp_set_str_(char **dst, const char *src);

void sdp_payload_clear_(sdp_payload *p);
void sdp_media_clear_(sdp_media *m);
/* Appends a verbatim attribute/line to a list. Returns 0 or -1. */
int sdp_attr_push_(sdp_attr **attrs, size_t *n, char type, const char *name,
                   const char *value);

/* Strict decimal parsing of [s, s+n): digits only, no sign, no overflow past max. */
bool sdp_parse_uint_(const char *s, size_t n, uint64_t max, uint64_t *out);
bool sdp_streq_nocase_(const char *a, const char *b);

/* Lexing (sdp_lex.c): a view of part of a line. */
typedef struct sdp_span {
    const char *p;
    size_t n;
} sdp_span;

/* Splits the next space-separated token off *rest; false when none is left. */
bool sdp_next_token_(sdp_span *rest, sdp_span *tok);
bool sdp_span_eq_(sdp_span s, const char *lit);
bool sdp_span_uint_(sdp_span s, uint64_t max, uint64_t *out);
bool sdp_is_token_(sdp_span s);   /* RFC 8866 token characters, non-empty */
bool sdp_is_visible_(sdp_span s); /* visible ASCII or UTF-8, non-empty */
sdp_direction sdp_direction_from_(sdp_span s); /* SDP_DIR_NONE when not a direction */
bool sdp_is_ice_chars_(sdp_span s, size_t min, size_t max);
bool sdp_valid_fingerprint_(sdp_span v);
bool sdp_valid_setup_(sdp_span v);

#endif
