/*
 * Plugin session lifetime (regression test for the use-after-free fixed in 153afa9).
 *
 * The defect: the plugin's dispatch thread read the handle's plugin session under the handle
 * lock and called handle_message after unlocking, while a detach on another thread freed that
 * session (ASan: heap-use-after-free in echotest_handle_message). Now every call into the
 * plugin holds a reference and destroy_session runs after the last one.
 *
 * Each round attaches a handle to the built-in echotest plugin, then two threads start at the
 * same instant: this one queues messages (the dispatch thread starts running them at once)
 * while a racer thread, after a delay that changes from round to round (0..~130 us), detaches
 * the handle, destroys the session, or both race each other. The messages still queued or
 * running must find the session stopped or alive, never freed. After each round the counts
 * must add up: once the dispatch thread has drained its queue, the only references left on
 * the handle are ours (so every message let go of it and the plugin session, which holds a
 * handle reference until destroy_session returned, is gone), and the session is referenced
 * only by that handle and by us.
 *
 * Run under ASan (heap-use-after-free / leaks) and TSan (suite 'concurrency').
 */
#include <glib.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "core/loop.h"
#include "core/plugin_host.h"
#include "core/server.h"
#include "core/session.h"
#include "util/config.h"
#include "util/log.h"

#define ROUNDS 20000
#define MAX_SECONDS 3
#define MESSAGES 6

typedef enum race_kind {
    RACE_DETACH = 0,          /* racer: handle_detach */
    RACE_END_HANDLE,          /* racer: the plugin callback end_handle (handle_detach too) */
    RACE_SESSION_DESTROY,     /* racer: session_destroy */
    RACE_BOTH,                /* racer: handle_detach, this thread: session_destroy after queueing */
    RACE_KINDS
} race_kind;

/* The racer thread: one round at a time, handed over under `lock`. */
typedef struct racer {
    GThread *thread;
    GMutex lock;
    GCond cond;
    int round;                /* the round to run (0 = none yet) */
    int done;                 /* the last round finished */
    bool quit;
    /* The round's parameters (written before `round` is set, under lock). */
    session_registry *reg;
    janus_session *session;   /* ref held by the racer for the round */
    plugin_handle *handle;    /* ref held by the racer for the round */
    race_kind kind;
    int delay_us;
    /* Both threads check in here and spin until both arrived: they leave together. */
    atomic_int arrived;
} racer;

static void spin_until_both(racer *r)
{
    atomic_fetch_add(&r->arrived, 1);
    int spins = 0;
    while (atomic_load(&r->arrived) < 2)
        if (++spins > 1000)
            sched_yield();
}

static void busy_wait_us(int us)
{
    if (us <= 0)
        return;
    gint64 end = g_get_monotonic_time() + us;
    while (g_get_monotonic_time() < end)
        ;
}

static gpointer racer_main(gpointer data)
{
    racer *r = data;
    int seen = 0;
    for (;;) {
        g_mutex_lock(&r->lock);
        while (!r->quit && r->round == seen)
            g_cond_wait(&r->cond, &r->lock);
        if (r->quit) {
            g_mutex_unlock(&r->lock);
            return NULL;
        }
        seen = r->round;
        g_mutex_unlock(&r->lock);

        spin_until_both(r);
        busy_wait_us(r->delay_us);
        switch (r->kind) {
        case RACE_DETACH:
        case RACE_BOTH:
            handle_detach(r->handle, true);
            break;
        case RACE_END_HANDLE:
            plugin_host_callbacks()->end_handle(r->handle);
            break;
        case RACE_SESSION_DESTROY:
            session_destroy(r->reg, r->session);
            break;
        default:
            break;
        }
        handle_unref(r->handle);
        session_unref(r->session);

        g_mutex_lock(&r->lock);
        r->done = seen;
        g_cond_broadcast(&r->cond);
        g_mutex_unlock(&r->lock);
    }
}

/* A fence on the plugin's dispatch thread: runs after everything queued before it. */
typedef struct fence {
    GMutex lock;
    GCond cond;
    bool passed;
} fence;

static void fence_pass(void *arg)
{
    fence *f = arg;
    g_mutex_lock(&f->lock);
    f->passed = true;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

/* plugin_ctx is the plugin_entry itself (plugin_host.c): post() with it reaches the dispatch
 * thread of that plugin, behind the messages queued so far. */
static bool drain_dispatch(plugin_entry *pe)
{
    fence f = {.passed = false};
    g_mutex_init(&f.lock);
    g_cond_init(&f.cond);
    bool ok = plugin_host_callbacks()->post((plugin_ctx *)pe, fence_pass, &f) == 0;
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_mutex_lock(&f.lock);
    while (ok && !f.passed)
        if (!g_cond_wait_until(&f.cond, &f.lock, end))
            ok = false;
    g_mutex_unlock(&f.lock);
    g_mutex_clear(&f.lock);
    g_cond_clear(&f.cond);
    return ok;
}

/* Queued events of s that are plugin events ("janus":"event"), and whether "detached" came. */
static int count_plugin_events(janus_session *s, bool *detached)
{
    int n = 0;
    *detached = false;
    g_mutex_lock(&s->lock);
    for (GList *l = s->events.head; l; l = l->next) {
        if (strstr(l->data, "\"janus\":\"event\""))
            n++;
        else if (strstr(l->data, "\"janus\":\"detached\""))
            *detached = true;
    }
    g_mutex_unlock(&s->lock);
    return n;
}

int main(void)
{
    if (getenv("PARLEY_TEST_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);
    server_config cfg;
    char err[256] = "";
    char *argv[] = {"test_plugin_lifetime", NULL};
    char *envp[] = {NULL};
    CHECK_INT(config_load(&cfg, 1, argv, envp, err, sizeof err), CONFIG_RUN);

    server_t srv = {.config = &cfg};
    srv.loops = loop_pool_create(2);
    session_registry *reg = session_registry_create(&srv);
    plugin_host *ph = plugin_host_create(&srv, NULL);
    plugin_entry *pe = plugin_host_find(ph, "janus.plugin.echotest");
    CHECK(pe != NULL);
    if (!pe)
        return check_summary("core-plugin-lifetime");

    racer r = {.round = 0};
    g_mutex_init(&r.lock);
    g_cond_init(&r.cond);
    r.reg = reg;
    r.thread = g_thread_new("racer", racer_main, &r);

    static const char *const bodies[] = {"{\"audio\":false}", "{\"video\":false}", "{\"audio\":true,\"bitrate\":128000}",
                                         "{\"video\":true}", "not json", "{\"audio\":1}"};
    int rounds = 0, refused = 0, bad_counts = 0;
    int none_ran = 0, some_ran = 0, all_ran = 0;   /* where the detach fell among the messages */
    gint64 deadline = g_get_monotonic_time() + MAX_SECONDS * G_USEC_PER_SEC;
    for (int i = 0; i < ROUNDS && g_get_monotonic_time() < deadline; i++) {
        janus_session *s = session_create(reg, 0, 0);
        CHECK(s != NULL);
        plugin_handle *h = s ? handle_create(s, pe, "lifetime", 0) : NULL;
        CHECK(h != NULL);
        if (!h)
            break;
        CHECK_INT(plugin_host_create_session(h), 0);

        race_kind kind = (race_kind)(i % RACE_KINDS);
        handle_ref(h);
        session_ref(s);
        atomic_store(&r.arrived, 0);
        g_mutex_lock(&r.lock);
        r.session = s;
        r.handle = h;
        r.kind = kind;
        r.delay_us = (i * 7) % 131;
        r.round = i + 1;
        g_cond_broadcast(&r.cond);
        g_mutex_unlock(&r.lock);

        spin_until_both(&r);
        int accepted = 0;
        for (int k = 0; k < MESSAGES; k++) {
            char txn[32];
            snprintf(txn, sizeof txn, "t%d-%d", i, k);
            if (plugin_host_queue_message(h, txn, bodies[k % G_N_ELEMENTS(bodies)], NULL) == 0)
                accepted++;
            else
                refused++;
        }
        if (kind == RACE_BOTH)
            session_destroy(reg, s);

        g_mutex_lock(&r.lock);
        while (r.done != i + 1)
            g_cond_wait(&r.cond, &r.lock);
        g_mutex_unlock(&r.lock);
        if (!drain_dispatch(pe)) {
            /* A message stuck on freed memory: fail now rather than hang at shutdown. */
            fprintf(stderr, "round %d: the dispatch thread did not drain its queue in 10 s\n", i);
            abort();
        }

        /* Everything settled: every message ran (or found the session stopped) and let go. */
        g_mutex_lock(&h->lock);
        bool detached = h->detached;
        bool ps_gone = h->ps == NULL;
        g_mutex_unlock(&h->lock);
        /* Ours on the handle; on the session: the handle's, ours, and the registry's until a
         * session_destroy ran. */
        int want_s_refs = kind == RACE_SESSION_DESTROY || kind == RACE_BOTH ? 2 : 3;
        int h_refs = atomic_load(&h->refs), s_refs = atomic_load(&s->refs);
        plugin_session_ref *ps = plugin_session_get(h);
        plugin_handle *found = handle_find(s, h->id);
        bool ok = detached && ps_gone && !ps && !found && h_refs == 1 && s_refs == want_s_refs;
        if (!ok && bad_counts++ < 5)
            fprintf(stderr, "round %d (kind %d): detached %d, ps gone %d, handle refs %d (want 1), session refs %d "
                    "(want %d), still findable %d\n", i, kind, detached, ps_gone, h_refs, s_refs, want_s_refs, !!found);
        plugin_session_put(ps);
        if (found)
            handle_unref(found);
        bool got_detached;
        int events = count_plugin_events(s, &got_detached);
        if (events > accepted && bad_counts++ < 5)
            fprintf(stderr, "round %d: %d plugin events for %d messages\n", i, events, accepted);
        /* "detached" only from handle_detach(h, true); in RACE_BOTH session_destroy may win. */
        bool want_detached = kind == RACE_DETACH || kind == RACE_END_HANDLE;
        if (kind != RACE_BOTH && got_detached != want_detached && bad_counts++ < 5)
            fprintf(stderr, "round %d (kind %d): detached event %d\n", i, kind, got_detached);
        if (events == 0)
            none_ran++;
        else if (events < accepted)
            some_ran++;
        else
            all_ran++;

        session_destroy(reg, s);   /* idempotent; the racer may have done it */
        handle_unref(h);           /* frees the handle, which frees the session */
        session_unref(s);
        rounds++;
    }
    CHECK_INT(bad_counts, 0);
    CHECK_INT(refused, 0);
    CHECK(rounds >= 200);
    CHECK_INT(atomic_load(&srv.counters.sessions_created), rounds);
    CHECK_INT(atomic_load(&srv.counters.handles_created), rounds);
    CHECK_INT(session_registry_count(reg), 0);
    fprintf(stderr, "%d rounds; detach before any message ran: %d, among them: %d, after all: %d\n", rounds,
            none_ran, some_ran, all_ran);

    g_mutex_lock(&r.lock);
    r.quit = true;
    g_cond_broadcast(&r.cond);
    g_mutex_unlock(&r.lock);
    g_thread_join(r.thread);
    g_mutex_clear(&r.lock);
    g_cond_clear(&r.cond);

    session_registry_destroy(reg);
    /* Waits (up to 5 s) for plugin sessions still alive: there must be none. */
    gint64 t0 = g_get_monotonic_time();
    plugin_host_destroy(ph);
    CHECK(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC);
    loop_pool_destroy(srv.loops);
    config_free(&cfg);
    return check_summary("core-plugin-lifetime");
}
