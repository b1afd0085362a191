/*
 * libFuzzer target for the DCEP parser (media/dcep.h): any bytes on PPID 50. A message that
 * parses must write back to the same bytes (up to its declared end), and an ACK is one byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/dcep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dcep_open msg;
    int type = dcep_message_type(data, size);
    if (type == DCEP_MSG_ACK) {
        if (dcep_parse_ack(data, size) != DCEP_OK)
            abort();
        return 0;
    }
    if (dcep_parse_open(data, size, &msg) != DCEP_OK)
        return 0;
    size_t need = dcep_open_size(msg.label_len, msg.protocol_len);
    if (need > size)
        abort();
    uint8_t *out = malloc(need);
    if (!out)
        return 0;
    int n = dcep_write_open(out, need, &msg);
    if (n != (int)need || memcmp(out, data, need) != 0)
        abort();
    if (dcep_write_open(out, need - 1, &msg) != DCEP_ENOSPACE)
        abort();
    free(out);
    return 0;
}
