/*
 * test_rtp: RTP header view, setters, RFC 8285 extensions (iteration, remap, erase) and the
 * RFC 7983 / 5761 demux rules, on hand-built packets including lying lengths.
 */
#include "check.h"
#include "proto/rtp.h"

/* 12-byte header: V=2, given flags, PT 111, seq 0x1234, ts 0xdeadbeef, ssrc 0x01020304. */
static size_t make_header(uint8_t *b, uint8_t first, uint8_t second)
{
    const uint8_t h[12] = {first, second, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
    memcpy(b, h, 12);
    return 12;
}

static void test_basic(void)
{
    uint8_t b[64];
    size_t n = make_header(b, 0x80, 0x80 | 111);
    memcpy(b + n, "payload", 7);
    n += 7;
    rtp_view v;
    CHECK_INT(rtp_parse(b, n, &v), 0);
    CHECK_INT(v.version, 2);
    CHECK(v.marker);
    CHECK_INT(v.pt, 111);
    CHECK_INT(v.seq, 0x1234);
    CHECK(v.timestamp == 0xdeadbeefu);
    CHECK(v.ssrc == 0x01020304u);
    CHECK_INT(v.payload_offset, 12);
    CHECK_INT(v.payload_len, 7);
    CHECK(!v.extension && !v.padding);

    CHECK_INT(rtp_set_ssrc(b, n, 0xcafebabe), 0);
    CHECK_INT(rtp_set_seq(b, n, 65535), 0);
    CHECK_INT(rtp_set_timestamp(b, n, 42), 0);
    CHECK_INT(rtp_set_pt(b, n, 96), 0);
    CHECK_INT(rtp_set_marker(b, n, false), 0);
    CHECK_INT(rtp_set_pt(b, n, 128), -1);
    CHECK_INT(rtp_parse(b, n, &v), 0);
    CHECK(v.ssrc == 0xcafebabeu);
    CHECK_INT(v.seq, 65535);
    CHECK_INT(v.timestamp, 42);
    CHECK_INT(v.pt, 96);
    CHECK(!v.marker);
    CHECK_INT(rtp_set_ssrc(b, 11, 1), -1);
}

static void test_malformed(void)
{
    uint8_t b[64];
    rtp_view v;
    make_header(b, 0x80, 111);
    CHECK_INT(rtp_parse(b, 11, &v), -1);          /* short */
    CHECK_INT(rtp_parse(NULL, 12, &v), -1);
    b[0] = 0x40;                                    /* version 1 */
    CHECK_INT(rtp_parse(b, 12, &v), -1);
    b[0] = 0x83;                                    /* 3 CSRCs but no room */
    CHECK_INT(rtp_parse(b, 20, &v), -1);
    CHECK_INT(rtp_parse(b, 24, &v), 0);
    CHECK_INT(v.csrc_count, 3);
    CHECK_INT(v.payload_offset, 24);
    CHECK_INT(v.payload_len, 0);

    /* extension header that lies about its length */
    make_header(b, 0x90, 111);
    b[12] = 0xbe; b[13] = 0xde; b[14] = 0x00; b[15] = 0x05; /* 20 bytes claimed */
    memset(b + 16, 0, 8);
    CHECK_INT(rtp_parse(b, 24, &v), -1);
    b[15] = 0x02;                                   /* 8 bytes: fits exactly */
    CHECK_INT(rtp_parse(b, 24, &v), 0);
    CHECK_INT(v.ext_len, 8);
    CHECK_INT(v.payload_len, 0);
    CHECK_INT(rtp_parse(b, 15, &v), -1);            /* extension header cut */

    /* padding */
    make_header(b, 0xa0, 111);
    memcpy(b + 12, "abcd", 4);
    b[16] = 0; b[17] = 0; b[18] = 3;                /* 3 padding bytes incl. count */
    CHECK_INT(rtp_parse(b, 19, &v), 0);
    CHECK_INT(v.payload_len, 4);
    CHECK_INT(v.padding_len, 3);
    b[18] = 0;                                      /* zero count is invalid */
    CHECK_INT(rtp_parse(b, 19, &v), -1);
    b[18] = 8;                                      /* more padding than payload */
    CHECK_INT(rtp_parse(b, 19, &v), -1);
    b[18] = 7;                                      /* exactly the whole payload */
    CHECK_INT(rtp_parse(b, 19, &v), 0);
    CHECK_INT(v.payload_len, 0);
}

/* One-byte extension block with mid (id 4, "0"), audio level (id 1, 1 byte) and abs-send-time
 * (id 3, 3 bytes), with a padding byte between. Returns total length. */
static size_t make_one_byte_ext(uint8_t *b)
{
    size_t n = make_header(b, 0x90, 111);
    const uint8_t ext[] = {0xbe, 0xde, 0x00, 0x03,
                           0x40, '0',            /* id 4 len 1 */
                           0x00,                 /* padding */
                           0x10, 0x85,           /* id 1 len 1 */
                           0x32, 0xaa, 0xbb, 0xcc, /* id 3 len 3 */
                           0x00, 0x00, 0x00};
    memcpy(b + n, ext, sizeof(ext));
    n += sizeof(ext);
    memcpy(b + n, "opus", 4);
    return n + 4;
}

static void test_ext_one_byte(void)
{
    uint8_t b[64];
    size_t n = make_one_byte_ext(b);
    rtp_view v;
    CHECK_INT(rtp_parse(b, n, &v), 0);
    CHECK(v.extension);
    CHECK_INT(v.ext_profile, 0xBEDE);
    CHECK_INT(v.ext_len, 12);
    CHECK_INT(v.payload_len, 4);

    rtp_ext_iter it;
    uint8_t id;
    const uint8_t *d;
    size_t dl;
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 4);
    CHECK_INT(dl, 1);
    CHECK_INT(d[0], '0');
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 1);
    CHECK_INT(d[0], 0x85);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 3);
    CHECK_INT(dl, 3);
    CHECK_INT(d[2], 0xcc);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 0);

    CHECK_INT(rtp_ext_find(b, &v, 3, &d, &dl), 1);
    CHECK_INT(d[0], 0xaa);
    CHECK_INT(rtp_ext_find(b, &v, 9, &d, &dl), 0);

    /* remap: 4 -> 10, 1 -> 0 (erase), 3 -> 15 (not expressible: erased) */
    uint8_t map[256] = {0};
    map[4] = 10;
    map[1] = 0;
    map[3] = 15;
    CHECK_INT(rtp_ext_remap(b, n, map), 1);
    CHECK_INT(rtp_parse(b, n, &v), 0);
    CHECK_INT(v.payload_len, 4);
    CHECK(memcmp(b + v.payload_offset, "opus", 4) == 0);
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 10);
    CHECK_INT(d[0], '0');
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 0);

    /* an element that runs past the block: iteration reports it and remap refuses */
    n = make_one_byte_ext(b);
    b[16 + 5] = 0x3f; /* id 3 claims 16 bytes */
    CHECK_INT(rtp_parse(b, n, &v), 0);
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), -1);
    uint8_t before[64];
    memcpy(before, b, n);
    map[4] = 5;
    CHECK_INT(rtp_ext_remap(b, n, map), -1);
    CHECK(memcmp(before, b, n) == 0);

    /* id 15 stops processing */
    n = make_one_byte_ext(b);
    b[16] = 0xf0;
    CHECK_INT(rtp_parse(b, n, &v), 0);
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 0);
}

static void test_ext_two_byte(void)
{
    uint8_t b[64];
    size_t n = make_header(b, 0x90, 96);
    const uint8_t ext[] = {0x10, 0x00, 0x00, 0x02,
                           20, 3, 'a', 'b', 'c', /* id 20 len 3 */
                           0,                    /* padding */
                           2, 0};                /* id 2 len 0 */
    memcpy(b + n, ext, sizeof(ext));
    n += sizeof(ext);
    rtp_view v;
    CHECK_INT(rtp_parse(b, n, &v), 0);
    rtp_ext_iter it;
    uint8_t id;
    const uint8_t *d;
    size_t dl;
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 20);
    CHECK_INT(dl, 3);
    CHECK(memcmp(d, "abc", 3) == 0);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 2);
    CHECK_INT(dl, 0);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 0);

    uint8_t map[256] = {0};
    map[20] = 200; /* two-byte form can carry it */
    CHECK_INT(rtp_ext_remap(b, n, map), 1);
    CHECK_INT(rtp_parse(b, n, &v), 0);
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 1);
    CHECK_INT(id, 200);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 0);

    /* length byte lying */
    b[16] = 20;
    b[17] = 40;
    CHECK_INT(rtp_parse(b, n, &v), 0);
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), -1);

    /* unknown profile: no elements, remap is a no-op */
    b[12] = 0x12;
    b[13] = 0x34;
    CHECK_INT(rtp_parse(b, n, &v), 0);
    rtp_ext_iter_init(&it, b, &v);
    CHECK_INT(rtp_ext_next(&it, &id, &d, &dl), 0);
    CHECK_INT(rtp_ext_remap(b, n, map), 0);
}

static void test_demux(void)
{
    CHECK_INT(rtp_demux_class(0), RTP_DEMUX_STUN);
    CHECK_INT(rtp_demux_class(1), RTP_DEMUX_STUN);
    CHECK_INT(rtp_demux_class(3), RTP_DEMUX_STUN);
    CHECK_INT(rtp_demux_class(4), RTP_DEMUX_UNKNOWN);
    CHECK_INT(rtp_demux_class(17), RTP_DEMUX_ZRTP);
    CHECK_INT(rtp_demux_class(20), RTP_DEMUX_DTLS);
    CHECK_INT(rtp_demux_class(22), RTP_DEMUX_DTLS);
    CHECK_INT(rtp_demux_class(63), RTP_DEMUX_DTLS);
    CHECK_INT(rtp_demux_class(64), RTP_DEMUX_TURN);
    CHECK_INT(rtp_demux_class(100), RTP_DEMUX_UNKNOWN);
    CHECK_INT(rtp_demux_class(128), RTP_DEMUX_RTP);
    CHECK_INT(rtp_demux_class(0x90), RTP_DEMUX_RTP);
    CHECK_INT(rtp_demux_class(191), RTP_DEMUX_RTP);
    CHECK_INT(rtp_demux_class(192), RTP_DEMUX_UNKNOWN);

    uint8_t b[12] = {0x80, 200, 0, 6};
    CHECK(rtp_is_rtcp(b, 8));    /* SR */
    b[1] = 206;
    CHECK(rtp_is_rtcp(b, 12));   /* PSFB */
    b[1] = 192;
    CHECK(rtp_is_rtcp(b, 12));
    b[1] = 223;
    CHECK(rtp_is_rtcp(b, 12));
    b[1] = 224;
    CHECK(!rtp_is_rtcp(b, 12));
    b[1] = 111;
    CHECK(!rtp_is_rtcp(b, 12));  /* opus */
    b[1] = 0x80 | 111;
    CHECK(!rtp_is_rtcp(b, 12));  /* opus + marker = 239 */
    b[1] = 0x80 | 96;
    CHECK(!rtp_is_rtcp(b, 12));  /* 224 */
    b[1] = 200;
    CHECK(!rtp_is_rtcp(b, 3));
    b[0] = 0x40;
    CHECK(!rtp_is_rtcp(b, 8));
}

static void test_seq(void)
{
    CHECK(rtp_seq_newer(2, 1));
    CHECK(rtp_seq_newer(0, 65535));
    CHECK(!rtp_seq_newer(65535, 0));
    CHECK(!rtp_seq_newer(5, 5));
}

int main(void)
{
    test_basic();
    test_malformed();
    test_ext_one_byte();
    test_ext_two_byte();
    test_demux();
    test_seq();
    return check_summary("test_rtp");
}
