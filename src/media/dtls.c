/*
 * dtls: see dtls.h.
 *
 * I/O: the SSL reads from a memory BIO we fill with one datagram at a time, and writes to a
 * small custom BIO whose every write is one datagram handed to the send callback. (A plain
 * memory BIO for output would merge a whole flight into one blob and lose the datagram
 * boundaries that DTLS depends on; OpenSSL 3.0 has no datagram memory BIO yet.)
 */
#include "media/dtls.h"

#include <ctype.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

/* Path MTU we assume for DTLS records: fits any real path incl. TURN/IPv6 overheads. */
#define DTLS_MTU 1200
#define DTLS_READ_BUF 16384
#define FP_MAX 64
/* Retransmit timer: start at 250 ms (OpenSSL's default is 1 s, slow for a call set-up on a
 * lossy path), double up to 4 s; OpenSSL gives up after 12 expiries (about 35 s). */
#define DTLS_TIMER_INITIAL_US 250000u
#define DTLS_TIMER_MAX_US 4000000u

struct media_dtls {
    SSL *ssl;
    BIO *rbio;                 /* memory BIO, owned by ssl */
    media_dtls_callbacks cb;
    bool is_client;
    bool done;
    bool failed;
    bool shut;
    bool wrote;                /* SSL_write used: a data channel, the record buffers stay */
    bool parked;               /* OpenSSL's record buffers handed back (park_buffers) */
    const EVP_MD *fp_md;       /* remote fingerprint algorithm and value */
    uint8_t fp[FP_MAX];
    unsigned fp_len;
    uint8_t *rd;               /* DTLS_READ_BUF, made at the first application record */
};

static struct {
    SSL_CTX *ctx;
    EVP_PKEY *key;
    X509 *cert;
    BIO_METHOD *out_method;
    int ex_index;
    char fingerprint[160];
} g;

/* ---- the output BIO: one write, one datagram ---- */

static int out_write(BIO *b, const char *buf, int len)
{
    media_dtls *d = BIO_get_data(b);
    if (d && len > 0)
        d->cb.send(d->cb.user, (const uint8_t *)buf, (size_t)len);
    return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return DTLS_MTU;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
        return 0;
    default:
        return 0;
    }
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* ---- process-wide certificate ---- */

static int make_cert(void)
{
    g.key = EVP_EC_gen("P-256");
    if (!g.key)
        return -1;
    g.cert = X509_new();
    if (!g.cert)
        return -1;
    X509_set_version(g.cert, 2);
    uint64_t serial;
    RAND_bytes((unsigned char *)&serial, sizeof serial);
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(g.cert), serial >> 1);
    X509_gmtime_adj(X509_getm_notBefore(g.cert), -86400);
    X509_gmtime_adj(X509_getm_notAfter(g.cert), 365L * 86400);
    X509_NAME *name = X509_get_subject_name(g.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"parley", -1, -1, 0);
    X509_set_issuer_name(g.cert, name);
    X509_set_pubkey(g.cert, g.key);
    return X509_sign(g.cert, g.key, EVP_sha256()) > 0 ? 0 : -1;
}

static void format_fingerprint(void)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    X509_digest(g.cert, EVP_sha256(), md, &n);
    size_t off = (size_t)snprintf(g.fingerprint, sizeof g.fingerprint, "sha-256 ");
    for (unsigned i = 0; i < n; i++)
        off += (size_t)snprintf(g.fingerprint + off, sizeof g.fingerprint - off, "%s%02X",
                                i ? ":" : "", md[i]);
}

static int verify_peer(int preverify_ok, X509_STORE_CTX *store);

int media_dtls_global_init(void)
{
    if (g.ctx)
        return MEDIA_DTLS_OK;
    if (media_srtp_global_init() != MEDIA_SRTP_OK || make_cert() != 0)
        goto fail;
    format_fingerprint();
    g.ctx = SSL_CTX_new(DTLS_method());
    if (!g.ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(g.ctx, DTLS1_2_VERSION);
    if (SSL_CTX_use_certificate(g.ctx, g.cert) != 1 || SSL_CTX_use_PrivateKey(g.ctx, g.key) != 1)
        goto fail;
    /* Self-signed on both sides: trust comes from the signalled fingerprint, checked in
     * verify_peer; the server must ask for the client's certificate to check it at all. */
    SSL_CTX_set_verify(g.ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_peer);
    SSL_CTX_set_options(g.ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
    SSL_CTX_set_read_ahead(g.ctx, 1);
    /* OpenSSL ignores this for DTLS (its record buffers stay for the connection's life):
     * park_buffers below does it for DTLS. Kept for what it does honour. */
    SSL_CTX_set_mode(g.ctx, SSL_MODE_RELEASE_BUFFERS);
    g.ex_index = SSL_get_ex_new_index(0, "parley-dtls", NULL, NULL, NULL);
    g.out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley-dtls-out");
    if (!g.out_method)
        goto fail;
    BIO_meth_set_write(g.out_method, out_write);
    BIO_meth_set_ctrl(g.out_method, out_ctrl);
    BIO_meth_set_create(g.out_method, out_create);
    return MEDIA_DTLS_OK;
fail:
    LOG_ERROR("dtls", "cannot create the DTLS identity: %s",
              ERR_reason_error_string(ERR_get_error()));
    media_dtls_global_deinit();
    return MEDIA_DTLS_EFAIL;
}

void media_dtls_global_deinit(void)
{
    SSL_CTX_free(g.ctx);
    X509_free(g.cert);
    EVP_PKEY_free(g.key);
    BIO_meth_free(g.out_method);
    memset(&g, 0, sizeof g);
}

const char *media_dtls_local_fingerprint(void)
{
    return g.fingerprint;
}

/* ---- remote fingerprint ---- */

static const EVP_MD *md_by_name(const char *name, size_t len)
{
    static const struct { const char *name; const EVP_MD *(*md)(void); } mds[] = {
        {"sha-256", EVP_sha256}, {"sha-1", EVP_sha1}, {"sha-384", EVP_sha384},
        {"sha-512", EVP_sha512},
    };
    for (size_t i = 0; i < sizeof mds / sizeof mds[0]; i++)
        if (strlen(mds[i].name) == len && strncasecmp(mds[i].name, name, len) == 0)
            return mds[i].md();
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "sha-256 AB:CD:..." -> algorithm + bytes; the byte count must match the algorithm. */
static bool parse_fingerprint(const char *s, const EVP_MD **md, uint8_t *out, unsigned *out_len)
{
    if (!s)
        return false;
    while (*s == ' ')
        s++;
    const char *sp = strchr(s, ' ');
    if (!sp)
        return false;
    *md = md_by_name(s, (size_t)(sp - s));
    if (!*md)
        return false;
    s = sp;
    while (*s == ' ')
        s++;
    unsigned n = 0;
    for (;;) {
        int hi = hexval((unsigned char)s[0]), lo = hi < 0 ? -1 : hexval((unsigned char)s[1]);
        if (hi < 0 || lo < 0 || n >= FP_MAX)
            return false;
        out[n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (*s != ':')
            break;
        s++;
    }
    while (*s == ' ' || *s == '\r' || *s == '\n')
        s++;
    *out_len = n;
    return *s == '\0' && n == (unsigned)EVP_MD_get_size(*md);
}

bool media_dtls_fingerprint_valid(const char *fingerprint)
{
    const EVP_MD *md;
    uint8_t buf[FP_MAX];
    unsigned n;
    return parse_fingerprint(fingerprint, &md, buf, &n);
}

/* Called by OpenSSL for each certificate of the chain; only the leaf (depth 0) matters. */
static int verify_peer(int preverify_ok, X509_STORE_CTX *store)
{
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    media_dtls *d = ssl ? SSL_get_ex_data(ssl, g.ex_index) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (!d || !cert)
        return 0;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (X509_digest(cert, d->fp_md, md, &n) != 1 || n != d->fp_len || memcmp(md, d->fp, n) != 0) {
        LOG_WARN("dtls", "remote certificate does not match the signalled fingerprint");
        return 0;
    }
    return 1;
}

/* ---- per peer ---- */

static unsigned int next_timer_us(SSL *ssl, unsigned int timer_us)
{
    if (timer_us == 0)
        return DTLS_TIMER_INITIAL_US;
    return timer_us >= DTLS_TIMER_MAX_US / 2 ? DTLS_TIMER_MAX_US : timer_us * 2;
}

media_dtls *media_dtls_create(bool is_client, const char *remote_fingerprint,
                              const char *profiles, const media_dtls_callbacks *cb)
{
    if (!g.ctx || !cb || !cb->send)
        return NULL;
    media_dtls *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cb = *cb;
    d->is_client = is_client;
    if (!parse_fingerprint(remote_fingerprint, &d->fp_md, d->fp, &d->fp_len))
        goto fail;
    d->ssl = SSL_new(g.ctx);
    if (!d->ssl)
        goto fail;
    SSL_set_ex_data(d->ssl, g.ex_index, d);
    /* SSL_set_tlsext_use_srtp returns 0 on success. */
    if (SSL_set_tlsext_use_srtp(d->ssl, profiles && *profiles ? profiles : MEDIA_DTLS_DEFAULT_PROFILES) != 0)
        goto fail;
    d->rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(g.out_method);
    if (!d->rbio || !wbio) {
        BIO_free(d->rbio);
        BIO_free(wbio);
        goto fail;
    }
    BIO_set_mem_eof_return(d->rbio, -1);
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, d->rbio, wbio);
    DTLS_set_link_mtu(d->ssl, DTLS_MTU);
    DTLS_set_timer_cb(d->ssl, next_timer_us);
    if (is_client)
        SSL_set_connect_state(d->ssl);
    else
        SSL_set_accept_state(d->ssl);
    return d;
fail:
    ERR_clear_error();
    media_dtls_free(d);
    return NULL;
}

void media_dtls_free(media_dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl);
    free(d->rd);
    free(d);
}

bool media_dtls_is_client(const media_dtls *d) { return d->is_client; }
bool media_dtls_done(const media_dtls *d) { return d->done; }

/*
 * OpenSSL keeps a read and a write record buffer of 16.7 kB each for a DTLS connection's whole
 * life (SSL_MODE_RELEASE_BUFFERS only applies to TLS). After the handshake a media-only peer
 * sees a DTLS record only for a close_notify or a retransmitted flight, so between our calls
 * the buffers go back to the heap (SSL_free_buffers) and come back (SSL_alloc_buffers) before
 * any call that may read or write a record. The unpark matters: OpenSSL 3.0's DTLS write path
 * does not make its buffer itself and crashes on a freed one (the crash seen when
 * SSL_free_buffers was tried alone). A peer that uses application data (a data channel) keeps
 * them: it reads and writes records all the time. SSL_free_buffers refuses while a record is
 * half processed; we retry after the next call. 33 kB per media-only peer (media_bench.md).
 */
static bool unpark_buffers(media_dtls *d)
{
    if (d->parked) {
        if (SSL_alloc_buffers(d->ssl) != 1)
            return false;
        d->parked = false;
    }
    return true;
}

static void park_buffers(media_dtls *d)
{
    if (d->done && !d->failed && !d->parked && !d->rd && !d->wrote && SSL_free_buffers(d->ssl) == 1)
        d->parked = true;
}

bool media_dtls_buffers_parked(const media_dtls *d) { return d->parked; }

static int fail(media_dtls *d, const char *what)
{
    if (!d->failed) {
        unsigned long e = ERR_peek_error();
        LOG_WARN("dtls", "handshake failed (%s): %s", what, e ? ERR_reason_error_string(e) : "-");
    }
    ERR_clear_error();
    d->failed = true;
    return MEDIA_DTLS_EFAIL;
}

static int drive_handshake(media_dtls *d)
{
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
        d->done = true;
        return MEDIA_DTLS_HANDSHAKE_DONE;
    }
    int err = SSL_get_error(d->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return MEDIA_DTLS_OK;
    return fail(d, "handshake");
}

int media_dtls_start(media_dtls *d)
{
    if (d->failed)
        return MEDIA_DTLS_EFAIL;
    if (!d->is_client || d->done)
        return MEDIA_DTLS_OK;
    return drive_handshake(d);
}

/* Drains decrypted records after the handshake. A media-only peer never gets one: its read
 * buffer is only made when a record is there (SSL_peek). (SSL_free_buffers would return
 * OpenSSL's record buffers too, but OpenSSL 3.0's DTLS write path crashes after it.) */
static int read_app_data(media_dtls *d)
{
    for (;;) {
        uint8_t first;
        int n = d->rd ? SSL_read(d->ssl, d->rd, DTLS_READ_BUF) : SSL_peek(d->ssl, &first, 1);
        if (n > 0 && !d->rd) {
            d->rd = malloc(DTLS_READ_BUF);
            continue;
        }
        if (n > 0) {
            if (d->cb.app_data)
                d->cb.app_data(d->cb.user, d->rd, (size_t)n);
            if (d->shut)
                return MEDIA_DTLS_OK;
            continue;
        }
        int err = SSL_get_error(d->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            break;
        if (err == SSL_ERROR_ZERO_RETURN) {
            d->shut = true;
            return MEDIA_DTLS_CLOSED;
        }
        /* A bad record after the handshake is dropped, not fatal (RFC 6347 4.1.2.7). */
        ERR_clear_error();
        break;
    }
    return MEDIA_DTLS_OK;
}

int media_dtls_input(media_dtls *d, const uint8_t *buf, size_t len)
{
    if (d->failed)
        return MEDIA_DTLS_EFAIL;
    if (d->shut || len == 0 || len > INT32_MAX)
        return MEDIA_DTLS_OK;
    if (!unpark_buffers(d))
        return MEDIA_DTLS_OK;   /* no memory now: the datagram is dropped, as a loss would be */
    BIO_write(d->rbio, buf, (int)len);
    int r = MEDIA_DTLS_OK;
    if (!d->done) {
        r = drive_handshake(d);
        if (r != MEDIA_DTLS_HANDSHAKE_DONE)
            return r;
    }
    int rr = read_app_data(d);
    if (!d->shut)
        park_buffers(d);
    return rr == MEDIA_DTLS_CLOSED ? rr : r;
}

int media_dtls_timeout_ms(media_dtls *d)
{
    struct timeval tv;
    if (d->failed || d->shut || !DTLSv1_get_timeout(d->ssl, &tv))
        return -1;
    long ms = tv.tv_sec * 1000L + (tv.tv_usec + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}

int media_dtls_handle_timeout(media_dtls *d)
{
    if (d->failed)
        return MEDIA_DTLS_EFAIL;
    if (!unpark_buffers(d))
        return MEDIA_DTLS_OK;
    if (DTLSv1_handle_timeout(d->ssl) < 0)
        return fail(d, "retransmission limit");
    park_buffers(d);
    return MEDIA_DTLS_OK;
}

int media_dtls_srtp_keys(media_dtls *d, media_srtp_profile *profile, uint8_t *material,
                         size_t cap, size_t *len)
{
    if (!d->done)
        return MEDIA_DTLS_ESTATE;
    SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
    if (!p)
        return MEDIA_DTLS_EFAIL;
    *profile = (media_srtp_profile)p->id;
    size_t need = media_srtp_keying_len(*profile);
    if (need == 0 || need > cap)
        return MEDIA_DTLS_EINVAL;
    static const char label[] = "EXTRACTOR-dtls_srtp";
    if (SSL_export_keying_material(d->ssl, material, need, label, sizeof label - 1, NULL, 0, 0) != 1)
        return fail(d, "key export");
    *len = need;
    return MEDIA_DTLS_OK;
}

int media_dtls_write(media_dtls *d, const uint8_t *buf, size_t len)
{
    if (!d->done || d->failed || d->shut)
        return MEDIA_DTLS_ESTATE;
    if (len > INT32_MAX)
        return MEDIA_DTLS_EINVAL;
    d->wrote = true;
    if (!unpark_buffers(d))
        return MEDIA_DTLS_EFAIL;
    int n = SSL_write(d->ssl, buf, (int)len);
    if (n <= 0) {
        ERR_clear_error();
        return MEDIA_DTLS_EFAIL;
    }
    return MEDIA_DTLS_OK;
}

void media_dtls_shutdown(media_dtls *d)
{
    if (d->shut)
        return;
    d->shut = true;
    if (d->done && !d->failed && unpark_buffers(d))
        SSL_shutdown(d->ssl);
    ERR_clear_error();
}
