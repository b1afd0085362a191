/*
 * dcep: see dcep.h. Wire formats (RFC 8832 section 5), all integers big-endian:
 *
 *  DATA_CHANNEL_OPEN
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Message Type |  Channel Type |            Priority           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Reliability Parameter                      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Label Length          |       Protocol Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                             Label ...                         |
 *  |                            Protocol ...                       |
 *
 *  DATA_CHANNEL_ACK: a single byte, Message Type = 0x02.
 */
#include "media/dcep.h"

#include <string.h>

#define DCEP_OPEN_HEADER 12

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

int dcep_message_type(const uint8_t *buf, size_t len)
{
    if (!buf || len < 1)
        return DCEP_ETRUNC;
    return buf[0];
}

static int channel_type_valid(uint8_t type)
{
    uint8_t base = type & (uint8_t)~DCEP_CHANNEL_UNORDERED_FLAG;
    return base <= DCEP_CHANNEL_PARTIAL_RELIABLE_TIMED;
}

int dcep_parse_open(const uint8_t *buf, size_t len, dcep_open *out)
{
    if (!buf || len < DCEP_OPEN_HEADER)
        return DCEP_ETRUNC;
    if (buf[0] != DCEP_MSG_OPEN || !channel_type_valid(buf[1]))
        return DCEP_ETYPE;
    uint16_t label_len = rd16(buf + 8), protocol_len = rd16(buf + 10);
    if ((size_t)DCEP_OPEN_HEADER + label_len + protocol_len > len)
        return DCEP_ETRUNC;
    out->channel_type = buf[1];
    out->priority = rd16(buf + 2);
    out->reliability = rd32(buf + 4);
    out->label = (const char *)buf + DCEP_OPEN_HEADER;
    out->label_len = label_len;
    out->protocol = out->label + label_len;
    out->protocol_len = protocol_len;
    return DCEP_OK;
}

int dcep_parse_ack(const uint8_t *buf, size_t len)
{
    if (!buf || len < 1)
        return DCEP_ETRUNC;
    return buf[0] == DCEP_MSG_ACK ? DCEP_OK : DCEP_ETYPE;
}

size_t dcep_open_size(size_t label_len, size_t protocol_len)
{
    return DCEP_OPEN_HEADER + label_len + protocol_len;
}

int dcep_write_open(uint8_t *out, size_t cap, const dcep_open *msg)
{
    if (!channel_type_valid(msg->channel_type))
        return DCEP_ETYPE;
    size_t need = dcep_open_size(msg->label_len, msg->protocol_len);
    if (need > cap)
        return DCEP_ENOSPACE;
    out[0] = DCEP_MSG_OPEN;
    out[1] = msg->channel_type;
    wr16(out + 2, msg->priority);
    wr32(out + 4, msg->reliability);
    wr16(out + 8, msg->label_len);
    wr16(out + 10, msg->protocol_len);
    if (msg->label_len)
        memcpy(out + DCEP_OPEN_HEADER, msg->label, msg->label_len);
    if (msg->protocol_len)
        memcpy(out + DCEP_OPEN_HEADER + msg->label_len, msg->protocol, msg->protocol_len);
    return (int)need;
}

int dcep_write_ack(uint8_t *out, size_t cap)
{
    if (cap < 1)
        return DCEP_ENOSPACE;
    out[0] = DCEP_MSG_ACK;
    return 1;
}
