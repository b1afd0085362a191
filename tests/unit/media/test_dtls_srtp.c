/*
 * DTLS and SRTP without sockets (sans-IO): two media_dtls objects exchange datagrams through
 * in-memory queues, with loss injected, retransmission timers driven by the test, then SRTP
 * sessions built from both sides' exported keys must interoperate. Also: profile choice,
 * fingerprint mismatch, close_notify, tampering and replay.
 */
#include <glib.h>
#include <stdlib.h>

#include "check.h"
#include "media/dtls.h"
#include "media/srtp.h"

typedef struct wire {
    GQueue q;          /* datagrams (GBytes) waiting for the other side */
    int sent;
    int drop_first;    /* drop this many of the first datagrams */
} wire;

typedef struct end {
    media_dtls *d;
    wire out;
    GByteArray *app;   /* application data received */
} end;

static void on_send(void *user, const uint8_t *buf, size_t len)
{
    end *e = user;
    if (e->out.sent++ < e->out.drop_first)
        return;
    g_queue_push_tail(&e->out.q, g_bytes_new(buf, len));
}

static void on_app(void *user, const uint8_t *buf, size_t len)
{
    end *e = user;
    g_byte_array_append(e->app, buf, (guint)len);
}

static void make_end(end *e, bool client, const char *fp, const char *profiles, int drop)
{
    memset(e, 0, sizeof *e);
    g_queue_init(&e->out.q);
    e->out.drop_first = drop;
    e->app = g_byte_array_new();
    media_dtls_callbacks cb = {.user = e, .send = on_send, .app_data = on_app};
    e->d = media_dtls_create(client, fp, profiles, &cb);
}

static void free_end(end *e)
{
    media_dtls_free(e->d);
    g_queue_clear_full(&e->out.q, (GDestroyNotify)g_bytes_unref);
    g_byte_array_unref(e->app);
}

/* Delivers everything queued from -> to; returns the last input result seen. */
static int deliver(end *from, end *to, int *last)
{
    int n = 0;
    GBytes *b;
    while ((b = g_queue_pop_head(&from->out.q))) {
        gsize len;
        const uint8_t *data = g_bytes_get_data(b, &len);
        int r = media_dtls_input(to->d, data, len);
        if (r != MEDIA_DTLS_OK)
            *last = r;
        g_bytes_unref(b);
        n++;
    }
    return n;
}

/* Runs the exchange until both are done or one fails; timers fire when nothing moves. */
static void run(end *c, end *s, int *rc, int *rs)
{
    *rc = *rs = MEDIA_DTLS_OK;
    CHECK(media_dtls_start(c->d) >= 0);
    for (int round = 0; round < 200; round++) {
        int moved = deliver(c, s, rs) + deliver(s, c, rc);
        if (*rc < 0 || *rs < 0 || (media_dtls_done(c->d) && media_dtls_done(s->d) && !moved))
            return;
        if (moved)
            continue;
        int tc = media_dtls_timeout_ms(c->d), ts = media_dtls_timeout_ms(s->d);
        int wait = tc < 0 ? ts : ts < 0 ? tc : (tc < ts ? tc : ts);
        if (wait < 0)
            return;
        g_usleep((gulong)wait * 1000 + 1000);
        if (media_dtls_timeout_ms(c->d) == 0 && media_dtls_handle_timeout(c->d) < 0)
            *rc = MEDIA_DTLS_EFAIL;
        if (media_dtls_timeout_ms(s->d) == 0 && media_dtls_handle_timeout(s->d) < 0)
            *rs = MEDIA_DTLS_EFAIL;
    }
}

static void check_srtp(media_srtp_profile profile, const uint8_t *km_c, const uint8_t *km_s, size_t len)
{
    media_srtp *tx = media_srtp_create(profile, km_c, len, true);
    media_srtp *rx = media_srtp_create(profile, km_s, len, false);
    CHECK(tx && rx);
    if (!tx || !rx)
        return;
    uint8_t pkt[200 + 64], copy[200 + 64];
    for (int i = 0; i < 200; i++)
        pkt[i] = (uint8_t)i;
    pkt[0] = 0x80;
    pkt[1] = 96;
    size_t n = 200;
    CHECK_INT(media_srtp_protect_rtp(tx, pkt, &n, 200 + 8), MEDIA_SRTP_ENOSPACE);
    CHECK_INT(media_srtp_protect_rtp(tx, pkt, &n, sizeof pkt), MEDIA_SRTP_OK);
    CHECK(n > 200);
    memcpy(copy, pkt, n);
    size_t m = n;
    CHECK_INT(media_srtp_unprotect_rtp(rx, pkt, &n), MEDIA_SRTP_OK);
    CHECK_INT(n, 200);
    CHECK(pkt[12] == 12 && pkt[199] == 199);
    CHECK_INT(media_srtp_unprotect_rtp(rx, copy, &m), MEDIA_SRTP_EFAIL);  /* replay */

    /* A flipped payload bit fails authentication. */
    pkt[1] = 96;
    pkt[3] = 2;
    n = 200;
    CHECK_INT(media_srtp_protect_rtp(tx, pkt, &n, sizeof pkt), MEDIA_SRTP_OK);
    pkt[50] ^= 1;
    CHECK_INT(media_srtp_unprotect_rtp(rx, pkt, &n), MEDIA_SRTP_EFAIL);

    /* RTCP (a receiver report) both ways: the server's outbound is the client's inbound. */
    static const uint8_t rr[8] = {0x80, 201, 0, 1, 1, 2, 3, 4};
    uint8_t r[8 + 64];
    memcpy(r, rr, 8);
    n = 8;
    CHECK_INT(media_srtp_protect_rtcp(rx, r, &n, sizeof r), MEDIA_SRTP_OK);
    CHECK_INT(media_srtp_unprotect_rtcp(tx, r, &n), MEDIA_SRTP_OK);
    CHECK_INT(n, 8);
    CHECK(memcmp(r, rr, 8) == 0);
    media_srtp_free(tx);
    media_srtp_free(rx);
}

static void handshake(const char *prof_c, const char *prof_s, int expect_profile, int drop_c, int drop_s)
{
    end c, s;
    make_end(&c, true, media_dtls_local_fingerprint(), prof_c, drop_c);
    make_end(&s, false, media_dtls_local_fingerprint(), prof_s, drop_s);
    int rc, rs;
    run(&c, &s, &rc, &rs);
    CHECK(rc >= 0 && rs >= 0);
    CHECK(media_dtls_done(c.d) && media_dtls_done(s.d));
    media_srtp_profile pc = 0, ps = 0;
    uint8_t kc[64], ks[64];
    size_t lc = 0, ls = 0;
    CHECK_INT(media_dtls_srtp_keys(c.d, &pc, kc, sizeof kc, &lc), MEDIA_DTLS_OK);
    CHECK_INT(media_dtls_srtp_keys(s.d, &ps, ks, sizeof ks, &ls), MEDIA_DTLS_OK);
    CHECK_INT(pc, expect_profile);
    CHECK_INT(ps, expect_profile);
    CHECK_INT(lc, media_srtp_keying_len(pc));
    CHECK(lc == ls && memcmp(kc, ks, lc) == 0);
    check_srtp(pc, kc, ks, lc);

    /* Application data both ways, then close_notify. */
    CHECK_INT(media_dtls_write(c.d, (const uint8_t *)"ping", 4), MEDIA_DTLS_OK);
    CHECK_INT(media_dtls_write(s.d, (const uint8_t *)"pong!", 5), MEDIA_DTLS_OK);
    int last = 0;
    deliver(&c, &s, &last);
    deliver(&s, &c, &last);
    CHECK(s.app->len == 4 && memcmp(s.app->data, "ping", 4) == 0);
    CHECK(c.app->len == 5 && memcmp(c.app->data, "pong!", 5) == 0);
    media_dtls_shutdown(c.d);
    last = 0;
    deliver(&c, &s, &last);
    CHECK_INT(last, MEDIA_DTLS_CLOSED);
    CHECK_INT(media_dtls_write(c.d, (const uint8_t *)"x", 1), MEDIA_DTLS_ESTATE);
    free_end(&c);
    free_end(&s);
}

/* A media-only connection hands OpenSSL's record buffers back after the handshake; a write,
 * a retransmission or close_notify from that state takes them again (OpenSSL 3.0 crashed on
 * a DTLS write with freed buffers). */
static void parked_buffers(bool close_from_client)
{
    end c, s;
    make_end(&c, true, media_dtls_local_fingerprint(), NULL, 0);
    make_end(&s, false, media_dtls_local_fingerprint(), NULL, 0);
    int rc, rs;
    run(&c, &s, &rc, &rs);
    CHECK(media_dtls_done(c.d) && media_dtls_done(s.d));
    CHECK(media_dtls_buffers_parked(c.d));
    CHECK(media_dtls_buffers_parked(s.d));
    CHECK_INT(media_dtls_handle_timeout(c.d), MEDIA_DTLS_OK);
    CHECK(media_dtls_buffers_parked(c.d));
    if (close_from_client) {
        /* Data from a parked end: both ends keep their buffers from then on. */
        CHECK_INT(media_dtls_write(c.d, (const uint8_t *)"late", 4), MEDIA_DTLS_OK);
        int last = 0;
        deliver(&c, &s, &last);
        CHECK(s.app->len == 4 && memcmp(s.app->data, "late", 4) == 0);
        CHECK(!media_dtls_buffers_parked(c.d) && !media_dtls_buffers_parked(s.d));
    }
    end *from = close_from_client ? &c : &s, *to = close_from_client ? &s : &c;
    media_dtls_shutdown(from->d);
    int last = 0;
    CHECK_INT(deliver(from, to, &last), 1);
    CHECK_INT(last, MEDIA_DTLS_CLOSED);
    free_end(&c);
    free_end(&s);
}

/* The server's last flight is lost after it finished (and parked its buffers): the client's
 * retransmitted flight makes the parked server retransmit its own. */
static void parked_server_retransmits(void)
{
    end c, s;
    make_end(&c, true, media_dtls_local_fingerprint(), NULL, 0);
    make_end(&s, false, media_dtls_local_fingerprint(), NULL, 0);
    int last = 0;
    CHECK(media_dtls_start(c.d) >= 0);
    for (int i = 0; i < 20 && !media_dtls_done(s.d); i++) {
        deliver(&c, &s, &last);
        if (!media_dtls_done(s.d))
            deliver(&s, &c, &last);
    }
    CHECK(media_dtls_done(s.d) && !media_dtls_done(c.d));
    CHECK(media_dtls_buffers_parked(s.d));
    g_queue_clear_full(&s.out.q, (GDestroyNotify)g_bytes_unref);   /* the final flight, lost */
    for (int i = 0; i < 10 && !media_dtls_done(c.d); i++) {
        int wait = media_dtls_timeout_ms(c.d);
        if (wait < 0)
            break;
        g_usleep((gulong)wait * 1000 + 1000);
        CHECK_INT(media_dtls_handle_timeout(c.d), MEDIA_DTLS_OK);
        deliver(&c, &s, &last);
        deliver(&s, &c, &last);
    }
    CHECK(media_dtls_done(c.d));
    CHECK(media_dtls_buffers_parked(s.d) && media_dtls_buffers_parked(c.d));
    free_end(&c);
    free_end(&s);
}

static void mismatch(bool client_checks)
{
    char wrong[160];
    g_strlcpy(wrong, media_dtls_local_fingerprint(), sizeof wrong);
    wrong[9] = wrong[9] == '0' ? '1' : '0';
    end c, s;
    make_end(&c, true, client_checks ? wrong : media_dtls_local_fingerprint(), NULL, 0);
    make_end(&s, false, client_checks ? media_dtls_local_fingerprint() : wrong, NULL, 0);
    int rc, rs;
    run(&c, &s, &rc, &rs);
    CHECK_INT(client_checks ? rc : rs, MEDIA_DTLS_EFAIL);
    CHECK(!media_dtls_done(client_checks ? c.d : s.d));
    media_srtp_profile p;
    uint8_t k[64];
    size_t l;
    CHECK(media_dtls_srtp_keys(client_checks ? c.d : s.d, &p, k, sizeof k, &l) != MEDIA_DTLS_OK);
    free_end(&c);
    free_end(&s);
}

static void fingerprints(void)
{
    const char *fp = media_dtls_local_fingerprint();
    CHECK(media_dtls_fingerprint_valid(fp));
    CHECK(!media_dtls_fingerprint_valid(NULL));
    CHECK(!media_dtls_fingerprint_valid("sha-256"));
    CHECK(!media_dtls_fingerprint_valid("sha-256 AB:CD"));           /* too short */
    CHECK(!media_dtls_fingerprint_valid("md5 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"));
    CHECK(media_dtls_fingerprint_valid("sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33"));
    CHECK(!media_dtls_fingerprint_valid("sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:3g"));
    char lower[160];
    g_strlcpy(lower, fp, sizeof lower);
    for (char *p = lower; *p; p++)
        *p = g_ascii_tolower(*p);
    CHECK(media_dtls_fingerprint_valid(lower));
    end e;
    make_end(&e, true, "sha-256 nope", NULL, 0);
    CHECK(e.d == NULL);
    free_end(&e);
    make_end(&e, true, fp, "NOT_A_PROFILE", 0);
    CHECK(e.d == NULL);
    free_end(&e);
}

int main(void)
{
    CHECK_INT(media_dtls_global_init(), MEDIA_DTLS_OK);
    fingerprints();
    handshake(NULL, NULL, MEDIA_SRTP_AEAD_AES_128_GCM, 0, 0);
    handshake("SRTP_AES128_CM_SHA1_80", NULL, MEDIA_SRTP_AES128_CM_SHA1_80, 0, 0);
    handshake(NULL, "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM", MEDIA_SRTP_AES128_CM_SHA1_80, 0, 0);
    /* Loss: the ClientHello, then the server's first flight, are lost and retransmitted. */
    handshake(NULL, NULL, MEDIA_SRTP_AEAD_AES_128_GCM, 1, 0);
    handshake(NULL, NULL, MEDIA_SRTP_AEAD_AES_128_GCM, 0, 3);
    parked_buffers(false);
    parked_buffers(true);
    parked_server_retransmits();
    mismatch(true);
    mismatch(false);
    media_dtls_global_deinit();
    return check_summary("media-dtls-srtp");
}
