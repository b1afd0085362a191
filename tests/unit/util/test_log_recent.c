/*
 * test_log_recent: the logger's ring of recent warnings and errors (GET /admin/log/recent).
 * It keeps only error and warn lines that were written, at most LOG_RECENT_CAP, oldest first,
 * cut at LOG_RECENT_MSG_MAX - 1 bytes; under writers on many threads and a reader copying at
 * the same time (suite 'concurrency': ThreadSanitizer in tests/run_all.sh) every copied entry
 * is whole and each thread's lines stay in the order it wrote them.
 * stderr goes to /dev/null meanwhile: the lines themselves are test_log's subject.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"

static log_recent_entry copied[LOG_RECENT_CAP];

static void only_warnings_and_errors(void)
{
    log_recent_clear();
    log_set_level(LOG_LEVEL_TRACE);
    LOG_NOTICE("t", "notice");
    LOG_INFO("t", "info");
    LOG_DEBUG("t", "debug");
    LOG_TRACE("t", "trace");
    LOG_WARN("mod-a", "a warning %d", 1);
    LOG_ERROR("mod-b", "an error");
    size_t n = log_recent_copy(copied, LOG_RECENT_CAP);
    CHECK_INT(n, 2);
    CHECK_INT(copied[0].level, LOG_LEVEL_WARN);
    CHECK_STR(copied[0].module, "mod-a");
    CHECK_STR(copied[0].msg, "a warning 1");
    CHECK_INT(copied[1].level, LOG_LEVEL_ERROR);
    CHECK_STR(copied[1].module, "mod-b");
    CHECK_STR(copied[1].msg, "an error");
    /* "2026-11-25T14:00:00.123Z" */
    CHECK_INT(strlen(copied[0].ts), 24);
    CHECK(copied[0].ts[10] == 'T' && copied[0].ts[23] == 'Z');
}

/* A warning the level filters out is not kept: the ring holds what the log holds. */
static void follows_the_level(void)
{
    log_recent_clear();
    log_set_level(LOG_LEVEL_ERROR);
    LOG_WARN("t", "filtered");
    LOG_ERROR("t", "kept");
    log_set_level(LOG_LEVEL_INFO);
    CHECK_INT(log_recent_copy(copied, LOG_RECENT_CAP), 1);
    CHECK_STR(copied[0].msg, "kept");
}

/* A rate-limited line that was dropped is not kept either (a flood stays out of the ring). */
static void ratelimited_drops_not_kept(void)
{
    static log_ratelimit rl = LOG_RATELIMIT_INIT(60000);
    log_recent_clear();
    for (int i = 0; i < 50; i++)
        log_msg_ratelimited(&rl, LOG_LEVEL_WARN, "t", "flood %d", i);
    CHECK_INT(log_recent_copy(copied, LOG_RECENT_CAP), 1);
    CHECK_STR(copied[0].msg, "flood 0");
}

static void bounded_and_ordered(void)
{
    log_recent_clear();
    CHECK_INT(log_recent_copy(copied, LOG_RECENT_CAP), 0);
    int total = LOG_RECENT_CAP * 2 + 50;
    for (int i = 0; i < total; i++)
        LOG_WARN("t", "n=%d", i);
    size_t n = log_recent_copy(copied, LOG_RECENT_CAP);
    CHECK_INT(n, LOG_RECENT_CAP);
    char want[32];
    int in_order = 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof want, "n=%d", total - LOG_RECENT_CAP + (int)i);
        in_order &= strcmp(copied[i].msg, want) == 0;
    }
    CHECK(in_order);
    /* A smaller buffer gets the newest entries, still oldest first. */
    CHECK_INT(log_recent_copy(copied, 3), 3);
    CHECK_STR(copied[0].msg, "n=447");
    CHECK_STR(copied[2].msg, "n=449");
}

static void long_messages_cut(void)
{
    log_recent_clear();
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    LOG_ERROR("a-module-name-much-longer-than-thirty-one-bytes", "%s", big);
    CHECK_INT(log_recent_copy(copied, LOG_RECENT_CAP), 1);
    CHECK_INT(strlen(copied[0].msg), LOG_RECENT_MSG_MAX - 1);
    CHECK_INT(strlen(copied[0].module), sizeof copied[0].module - 1);
}

/* ---- concurrent writers and a reader ---- */

#define WRITERS 6
#define LINES_PER_WRITER 3000

static atomic_bool writers_done;
static atomic_int torn_entries, out_of_order;

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_WRITER; i++)
        LOG_WARN("w", "writer %d line %d", id, i);
    return NULL;
}

/* Each thread's line numbers must rise within one copy, and every entry must be one that a
 * writer wrote whole (module and message from the same call). */
static int check_copy(const log_recent_entry *e, size_t n)
{
    int last[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        last[w] = -1;
    int problems = 0;
    for (size_t i = 0; i < n; i++) {
        int id, line;
        if (strcmp(e[i].module, "w") != 0 || sscanf(e[i].msg, "writer %d line %d", &id, &line) != 2 || id < 0 ||
            id >= WRITERS) {
            atomic_fetch_add(&torn_entries, 1);
            problems++;
            continue;
        }
        if (line <= last[id]) {
            atomic_fetch_add(&out_of_order, 1);
            problems++;
        }
        last[id] = line;
    }
    return problems;
}

static void *reader(void *arg)
{
    (void)arg;
    static log_recent_entry snapshot[LOG_RECENT_CAP];
    while (!atomic_load(&writers_done))
        check_copy(snapshot, log_recent_copy(snapshot, LOG_RECENT_CAP));
    return NULL;
}

static void concurrent_writers(void)
{
    log_recent_clear();
    pthread_t w[WRITERS], r;
    pthread_create(&r, NULL, reader, NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    atomic_store(&writers_done, true);
    pthread_join(r, NULL);
    size_t n = log_recent_copy(copied, LOG_RECENT_CAP);
    CHECK_INT(n, LOG_RECENT_CAP);
    CHECK_INT(check_copy(copied, n), 0);
    CHECK_INT(atomic_load(&torn_entries), 0);
    CHECK_INT(atomic_load(&out_of_order), 0);
}

int main(void)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDERR_FILENO);
    close(devnull);

    only_warnings_and_errors();
    follows_the_level();
    ratelimited_drops_not_kept();
    bounded_and_ordered();
    long_messages_cut();
    concurrent_writers();

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    return check_summary("test_log_recent");
}
