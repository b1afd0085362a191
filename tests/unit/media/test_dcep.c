/* DCEP (RFC 8832) parser and writer: round trips, the RFC's layouts, truncation. */
#include <stdint.h>

#include "check.h"
#include "media/dcep.h"

static void test_open_roundtrip(void)
{
    dcep_open in = {.channel_type = DCEP_CHANNEL_PARTIAL_RELIABLE_REXMIT | DCEP_CHANNEL_UNORDERED_FLAG,
                    .priority = 256, .reliability = 3, .label = "chat", .label_len = 4,
                    .protocol = "json", .protocol_len = 4};
    uint8_t buf[64];
    CHECK_INT(dcep_open_size(4, 4), 20);
    int n = dcep_write_open(buf, sizeof buf, &in);
    CHECK_INT(n, 20);
    static const uint8_t expect[20] = {0x03, 0x81, 0x01, 0x00, 0, 0, 0, 3, 0, 4, 0, 4,
                                       'c', 'h', 'a', 't', 'j', 's', 'o', 'n'};
    CHECK(memcmp(buf, expect, sizeof expect) == 0);
    CHECK_INT(dcep_message_type(buf, (size_t)n), DCEP_MSG_OPEN);
    dcep_open out;
    CHECK_INT(dcep_parse_open(buf, (size_t)n, &out), DCEP_OK);
    CHECK_INT(out.channel_type, 0x81);
    CHECK_INT(out.priority, 256);
    CHECK_INT(out.reliability, 3);
    CHECK_INT(out.label_len, 4);
    CHECK(memcmp(out.label, "chat", 4) == 0);
    CHECK_INT(out.protocol_len, 4);
    CHECK(memcmp(out.protocol, "json", 4) == 0);
}

/* What a browser sends for createDataChannel("") : empty label and protocol. */
static void test_open_empty_label(void)
{
    static const uint8_t msg[12] = {0x03, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    dcep_open out;
    CHECK_INT(dcep_parse_open(msg, sizeof msg, &out), DCEP_OK);
    CHECK_INT(out.label_len, 0);
    CHECK_INT(out.protocol_len, 0);
    CHECK_INT(out.channel_type, DCEP_CHANNEL_RELIABLE);
}

static void test_open_errors(void)
{
    uint8_t buf[32];
    dcep_open in = {.channel_type = 0, .label = "abc", .label_len = 3, .protocol = "", .protocol_len = 0};
    int n = dcep_write_open(buf, sizeof buf, &in);
    CHECK_INT(n, 15);
    dcep_open out;
    /* Every strict prefix is truncated. */
    for (int i = 0; i < n; i++)
        CHECK_INT(dcep_parse_open(buf, (size_t)i, &out), DCEP_ETRUNC);
    /* Declared label longer than the message. */
    buf[9] = 4;
    CHECK_INT(dcep_parse_open(buf, (size_t)n, &out), DCEP_ETRUNC);
    buf[9] = 3;
    /* Unknown channel type, wrong message type. */
    buf[1] = 0x03;
    CHECK_INT(dcep_parse_open(buf, (size_t)n, &out), DCEP_ETYPE);
    buf[1] = 0x00;
    buf[0] = DCEP_MSG_ACK;
    CHECK_INT(dcep_parse_open(buf, (size_t)n, &out), DCEP_ETYPE);
    /* Writer: too small a buffer, bad type. */
    CHECK_INT(dcep_write_open(buf, 14, &in), DCEP_ENOSPACE);
    in.channel_type = 0x07;
    CHECK_INT(dcep_write_open(buf, sizeof buf, &in), DCEP_ETYPE);
    CHECK_INT(dcep_parse_open(NULL, 0, &out), DCEP_ETRUNC);
}

static void test_ack(void)
{
    uint8_t buf[4];
    CHECK_INT(dcep_write_ack(buf, 0), DCEP_ENOSPACE);
    CHECK_INT(dcep_write_ack(buf, sizeof buf), 1);
    CHECK_INT(buf[0], 0x02);
    CHECK_INT(dcep_parse_ack(buf, 1), DCEP_OK);
    CHECK_INT(dcep_message_type(buf, 1), DCEP_MSG_ACK);
    CHECK_INT(dcep_parse_ack(buf, 0), DCEP_ETRUNC);
    CHECK_INT(dcep_message_type(buf, 0), DCEP_ETRUNC);
    buf[0] = 0x03;
    CHECK_INT(dcep_parse_ack(buf, 1), DCEP_ETYPE);
}

int main(void)
{
    test_open_roundtrip();
    test_open_empty_label();
    test_open_errors();
    test_ack();
    return check_summary("media-dcep");
}
