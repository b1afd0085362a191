/*
 * sdp_util.c: allocation helpers shared by the sdp*.c files, and sdp_free.
 */
#include "proto/sdp_internal.h"

#include <stdlib.h>
#include <string.h>

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
