/*
 * test_sdp_oom: allocation-failure injection over the SDP module (SQLite style). The test is
 * linked with -Wl,--wrap for malloc/calloc/realloc/free, so every allocation made by our code
 * (the static library included) goes through the counters below. For each N, the Nth
 * allocation fails: the operation must fail cleanly (-1 / NULL, no crash) or succeed, and
 * the number of live blocks must come back to where it was (no leak on any error path).
 */
#include <stdlib.h>

#include "check.h"
#include "proto/sdp.h"
#include "sdp_fixtures.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long fail_at = -1; /* index of the allocation to fail, -1 = never */
static long alloc_no;
static long live;

static bool should_fail(void)
{
    return fail_at >= 0 && alloc_no++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_malloc(n);
    live += p != NULL;
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (should_fail())
        return NULL;
    void *p = __real_calloc(n, m);
    live += p != NULL;
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_realloc(old, n);
    live += (old == NULL && p != NULL);
    return p;
}

void __wrap_free(void *p)
{
    live -= p != NULL;
    __real_free(p);
}

static void arm(long n)
{
    alloc_no = 0;
    fail_at = n;
}

/* Runs op with the Nth allocation failing, for every N until op completes without hitting
 * the failure. Returns how many failure points were exercised. */
typedef int (*op_fn)(void);

static long sweep(const char *name, op_fn op)
{
    long n = 0;
    for (;; n++) {
        long before = live;
        arm(n);
        int r = op();
        bool hit = alloc_no > n;
        fail_at = -1;
        CHECK(r == 0 || r == -1);
        if (live != before) {
            fprintf(stderr, "%s: leak of %ld blocks when allocation %ld fails\n", name,
                    live - before, n);
            CHECK(live == before);
            live = before;
        }
        if (!hit) {
            CHECK_INT(r, 0); /* no failure injected: must succeed */
            break;
        }
    }
    fprintf(stderr, "%s: %ld allocation failure points\n", name, n);
    return n;
}

static sdp_session *g_offer;

static int op_parse(void)
{
    sdp_session *s = NULL;
    char err[128];
    int r = sdp_parse(CHROME_OFFER, strlen(CHROME_OFFER), &s, err, sizeof(err));
    if (r == 0)
        sdp_free(s);
    else if (s != NULL || strstr(err, "out of memory") == NULL)
        return 1; /* an allocation failure must be reported as such */
    return r == 0 ? 0 : -1;
}

static int op_answer_and_write(void)
{
    sdp_session *a = NULL;
    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    p.allow_rtx = true;
    if (sdp_make_answer(g_offer, &p, &a) != 0)
        return -1;
    const char *c[2] = {"candidate:1 1 udp 2130706431 127.0.0.1 20000 typ host",
                        "candidate:2 1 udp 2130706175 ::1 20001 typ host"};
    int r = sdp_set_transport(a, "abcd", "0123456789abcdefghijkl", "sha-256 AA:BB", "active", c,
                              2, true);
    if (r == 0)
        r = sdp_add_ssrc(&a->media[0], 1, "cname", "stream", "track");
    if (r == 0) {
        char *text = sdp_write_alloc(a);
        r = text ? 0 : -1;
        free(text);
    }
    sdp_free(a);
    return r;
}

static int op_clone(void)
{
    sdp_session *c = sdp_clone(g_offer);
    int r = c ? 0 : -1;
    sdp_free(c);
    return r;
}

int main(void)
{
    CHECK(sweep("sdp_parse", op_parse) > 100);
    CHECK_INT(sdp_parse(AIORTC_OFFER, strlen(AIORTC_OFFER), &g_offer, NULL, 0), 0);
    CHECK(sweep("answer+transport+write", op_answer_and_write) > 20);
    CHECK(sweep("sdp_clone", op_clone) > 100);
    sdp_free(g_offer);
    return check_summary("test_sdp_oom");
}
