/*
 * test_metrics_counters: the counting pieces behind /metrics that need no server —
 * media_counters (RTP/RTCP/data tallies, NACK/PLI/FIR found in real compound packets built
 * with the proto writers, nothing counted from malformed ones) and http_stats (per server
 * name and exact status, the always-present codes, slot reuse by name, the slot limit,
 * concurrent counting).
 */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "core/loop.h"
#include "core/media_counters.h"
#include "proto/rtcp.h"
#include "transport/http_stats.h"

static media_counter_totals tot(server_counters *c)
{
    media_counter_totals t;
    media_counters_total(c, &t);
    return t;
}

static void test_rtp_and_data(void)
{
    server_counters c;
    memset(&c, 0, sizeof c);
    media_count_rtp(&c, MEDIA_DIR_IN, 0, 100);
    media_count_rtp(&c, MEDIA_DIR_IN, 0, 50);
    media_count_rtp(&c, MEDIA_DIR_OUT, 1, 1200);
    media_count_rtp(&c, MEDIA_DIR_OUT, 2, 999);   /* not a kind: ignored */
    media_count_rtp(&c, MEDIA_DIR_OUT, -1, 999);
    CHECK_INT(tot(&c).rtp_packets[MEDIA_DIR_IN][0], 2);
    CHECK_INT(tot(&c).rtp_bytes[MEDIA_DIR_IN][0], 150);
    CHECK_INT(tot(&c).rtp_packets[MEDIA_DIR_OUT][1], 1);
    CHECK_INT(tot(&c).rtp_bytes[MEDIA_DIR_OUT][1], 1200);
    CHECK_INT(tot(&c).rtp_packets[MEDIA_DIR_OUT][0] + tot(&c).rtp_packets[MEDIA_DIR_IN][1], 0);
    media_count_data(&c, MEDIA_DIR_OUT, 7);
    media_count_data(&c, MEDIA_DIR_OUT, 0);
    CHECK_INT(tot(&c).data_messages[MEDIA_DIR_OUT], 2);
    CHECK_INT(tot(&c).data_bytes[MEDIA_DIR_OUT], 7);
    CHECK_INT(tot(&c).data_messages[MEDIA_DIR_IN], 0);
}

static void test_rtcp_feedback(void)
{
    uint8_t buf[512];
    size_t len = 0;
    int n = rtcp_write_rr(buf, sizeof buf, 1, NULL, 0);
    CHECK(n > 0);
    len += (size_t)n;
    uint16_t seqs[] = {10, 11, 40, 500};   /* two NACK FCI entries, still one NACK block */
    n = rtcp_write_nack(buf + len, sizeof buf - len, 1, 2, seqs, 4);
    CHECK(n > 0);
    len += (size_t)n;
    for (int i = 0; i < 2; i++) {
        n = rtcp_write_pli(buf + len, sizeof buf - len, 1, 2);
        CHECK(n > 0);
        len += (size_t)n;
    }
    n = rtcp_write_fir(buf + len, sizeof buf - len, 1, 2, 5);
    CHECK(n > 0);
    len += (size_t)n;
    uint32_t ssrcs[] = {2};
    n = rtcp_write_remb(buf + len, sizeof buf - len, 1, 300000, ssrcs, 1);
    CHECK(n > 0);
    len += (size_t)n;
    CHECK_INT(rtcp_validate(buf, len), 0);

    media_rtcp_tally t = media_rtcp_scan(buf, len);
    CHECK_INT(t.len, len);
    CHECK_INT(t.nacks, 1);
    CHECK_INT(t.plis, 2);
    CHECK_INT(t.firs, 1);

    server_counters c;
    memset(&c, 0, sizeof c);
    media_count_rtcp(&c, MEDIA_DIR_IN, &t);
    media_count_rtcp(&c, MEDIA_DIR_IN, &t);
    CHECK_INT(tot(&c).rtcp_packets[MEDIA_DIR_IN], 2);
    CHECK_INT(tot(&c).rtcp_bytes[MEDIA_DIR_IN], 2 * len);
    CHECK_INT(tot(&c).nacks[MEDIA_DIR_IN], 2);
    CHECK_INT(tot(&c).plis[MEDIA_DIR_IN], 4);
    CHECK_INT(tot(&c).firs[MEDIA_DIR_IN], 2);
    CHECK_INT(tot(&c).nacks[MEDIA_DIR_OUT] + tot(&c).plis[MEDIA_DIR_OUT] + tot(&c).rtcp_packets[MEDIA_DIR_OUT], 0);

    /* A PLI whose length field runs past the buffer: the walk stops, nothing is found. */
    uint8_t bad[12];
    CHECK(rtcp_write_pli(bad, sizeof bad, 1, 2) == 12);
    bad[3] = 9;
    t = media_rtcp_scan(bad, sizeof bad);
    CHECK_INT(t.nacks + t.plis + t.firs, 0);
    /* Cut inside the second block: the first (a PLI) still counts, the FIR does not. */
    n = rtcp_write_pli(buf, sizeof buf, 1, 2);
    int m = rtcp_write_fir(buf + n, sizeof buf - (size_t)n, 1, 2, 1);
    t = media_rtcp_scan(buf, (size_t)(n + m - 4));
    CHECK_INT(t.plis, 1);
    CHECK_INT(t.firs, 0);
    t = media_rtcp_scan(buf, 0);
    CHECK_INT(t.nacks + t.plis + t.firs, 0);
}

static uint64_t status_count(const char *server, unsigned status)
{
    http_status_count out[256];
    size_t n = http_stats_snapshot(out, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        if (strcmp(out[i].server, server) == 0 && out[i].status == status)
            return out[i].count;
    return UINT64_MAX; /* not listed */
}

static void *count_many(void *arg)
{
    http_stats_slot *s = arg;
    for (int i = 0; i < 10000; i++)
        http_stats_count(s, 200);
    return NULL;
}

static void test_http_stats(void)
{
    http_stats_slot *a = http_stats_slot_for("pub");
    http_stats_slot *b = http_stats_slot_for("adm");
    CHECK(a && b && a != b);
    CHECK(http_stats_slot_for("pub") == a);   /* a restarted server keeps its counts */
    /* Listed even before they happen. */
    static const unsigned always[] = HTTP_STATS_ALWAYS;
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        CHECK_INT(status_count("pub", always[i]), 0);
    CHECK(status_count("pub", 418) == UINT64_MAX);
    http_stats_count(a, 200);
    http_stats_count(a, 418);
    http_stats_count(a, 418);
    http_stats_count(b, 503);
    http_stats_count(a, 99);    /* out of range: ignored */
    http_stats_count(a, 600);
    http_stats_count(NULL, 200);
    CHECK_INT(status_count("pub", 200), 1);
    CHECK_INT(status_count("pub", 418), 2);
    CHECK_INT(status_count("adm", 503), 1);
    CHECK_INT(status_count("adm", 200), 0);
    CHECK(status_count("pub", 99) == UINT64_MAX && status_count("pub", 600) == UINT64_MAX);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, count_many, b);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(status_count("adm", 200), 40000);

    /* A short output buffer still reports how many entries there are. */
    http_status_count one[1];
    size_t total = http_stats_snapshot(one, 1);
    CHECK(total >= 2 * (sizeof always / sizeof always[0]) + 1);

    /* Names beyond the table get no slot (and counting with NULL is a no-op). */
    char name[16];
    int got = 0;
    for (int i = 0; i < HTTP_STATS_SERVERS + 2; i++) {
        snprintf(name, sizeof name, "extra%d", i);
        if (http_stats_slot_for(name))
            got++;
    }
    CHECK_INT(got, HTTP_STATS_SERVERS - 2);
}

/* Two loops and this thread count at once: each loop into its own shard, this thread into
 * the shared one; the totals add up exactly. */
static server_counters shared_c;
static void count_on_loop(void *arg)
{
    (void)arg;
    CHECK(loop_current_index() >= 0);
    for (int i = 0; i < 100000; i++)
        media_count_rtp(&shared_c, MEDIA_DIR_IN, 1, 10);
}

static void noop(void *arg) { (void)arg; }

static void test_shards(void)
{
    memset(&shared_c, 0, sizeof shared_c);
    loop_pool_t *pool = loop_pool_create(2);
    CHECK_INT(loop_current_index(), -1);
    for (int l = 0; l < 2; l++)
        loop_invoke(loop_pool_get(pool, l), count_on_loop, NULL);
    for (int i = 0; i < 50000; i++)
        media_count_rtp(&shared_c, MEDIA_DIR_IN, 1, 10);
    for (int l = 0; l < 2; l++)
        loop_invoke_sync(loop_pool_get(pool, l), noop, NULL);   /* FIFO: after count_on_loop */
    loop_pool_destroy(pool);
    media_counter_totals t = tot(&shared_c);
    CHECK_INT(t.rtp_packets[MEDIA_DIR_IN][1], 250000);
    CHECK_INT(t.rtp_bytes[MEDIA_DIR_IN][1], 2500000);
    CHECK_INT(atomic_load(&shared_c.media[0].rtp_packets[MEDIA_DIR_IN][1]), 50000);
    CHECK_INT(atomic_load(&shared_c.media[1].rtp_packets[MEDIA_DIR_IN][1]), 100000);
    CHECK_INT(atomic_load(&shared_c.media[2].rtp_packets[MEDIA_DIR_IN][1]), 100000);
}

int main(void)
{
    test_rtp_and_data();
    test_rtcp_feedback();
    test_http_stats();
    test_shards();
    return check_summary("test_metrics_counters");
}
