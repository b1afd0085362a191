/*
 * Cross-loop close (regression test for the deadlock fixed in 153afa9).
 *
 * The defect: close_pc / end_handle / hangup ended in loop_invoke_sync (waiting for the
 * loop owning the peer), so two loops closing each other's handles at the same time waited
 * for each other forever. Now handle_media_hangup detaches the leg and posts its close to
 * the leg's loop; nothing waits.
 *
 * N handles on one session get a server-made offer each (which creates their
 * PeerConnection), half placed on loop 0 and half on loop 1 with handle_colocate. Then:
 *   round 1: a job on loop 0 and a job on loop 1 meet at a barrier, and each closes every
 *            handle of the OTHER loop, half with close_pc, half by detaching the handle
 *            (handle_detach, or the end_handle callback): all N peers must close;
 *   round 2: the handles still attached negotiate again (a new PeerConnection on the same
 *            loop), then loop 0 destroys the whole session while loop 1 calls close_pc on
 *            the same handles: each new peer must close exactly once.
 * A watchdog aborts the test after WATCHDOG_S seconds, so a deadlock fails the test instead
 * of hanging CI.
 */
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/handle_media.h"
#include "core/loop.h"
#include "core/plugin_host.h"
#include "core/server.h"
#include "core/session.h"
#include "media/peer.h"
#include "util/config.h"
#include "util/log.h"

#define N 20
#define WATCHDOG_S 20
#define WAIT_S 10

/* ---- watchdog ---- */

static GMutex wd_lock;
static GCond wd_cond;
static bool wd_done;
static const char *wd_stage = "start";

static gpointer watchdog_main(gpointer data)
{
    gint64 end = g_get_monotonic_time() + WATCHDOG_S * G_USEC_PER_SEC;
    g_mutex_lock(&wd_lock);
    while (!wd_done)
        if (!g_cond_wait_until(&wd_cond, &wd_lock, end)) {
            fprintf(stderr, "watchdog: still not done after %d s (stage: %s): deadlock\n", WATCHDOG_S, wd_stage);
            abort();
        }
    g_mutex_unlock(&wd_lock);
    return NULL;
}

static void stage(const char *name)
{
    g_mutex_lock(&wd_lock);
    wd_stage = name;
    g_mutex_unlock(&wd_lock);
}

/* ---- the set-up ---- */

static server_t srv;
static session_registry *reg;
static janus_session *session;
static plugin_handle *handles[N];
static int handle_loop[N];     /* where each handle's PeerConnection is */
static char *offer;            /* a server-made offer (JSON jsep) */

/* Gives h our offer, which creates its PeerConnection; returns the loop it landed on. */
static int negotiate(plugin_handle *h)
{
    json_t *jsep = handle_media_local_jsep(h, offer);
    CHECK(jsep != NULL);
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    CHECK(sdp && strstr(sdp, "a=setup:actpass") && strstr(sdp, "a=ice-ufrag:"));
    json_decref(jsep);
    plugin_media_state st;
    CHECK_INT(plugin_host_callbacks()->handle_media_state(h, &st), 0);
    CHECK(st.has_peer);
    return st.loop;
}

static uint64_t peers_closed(void) { return atomic_load(&srv.counters.peers_closed); }

static bool wait_closed(uint64_t want)
{
    gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
    while (peers_closed() < want && g_get_monotonic_time() < end)
        g_usleep(2000);
    return peers_closed() == want;
}

/* Runs fn on both loops at once (they meet at a barrier first) and waits for both. */
typedef struct both_job {
    pthread_barrier_t barrier;
    void (*fn)(int loop);
    GMutex lock;
    GCond cond;
    int finished;
    bool on_its_loop[2];   /* each job ran on the loop it was posted to */
} both_job;

static both_job job;

typedef struct job_arg {
    int loop;
} job_arg;

static job_arg job_args[2] = {{0}, {1}};

static void run_on_loop(void *arg)
{
    job_arg *a = arg;
    bool here = loop_is_current(loop_pool_get(srv.loops, a->loop));
    pthread_barrier_wait(&job.barrier);
    job.fn(a->loop);
    g_mutex_lock(&job.lock);
    job.on_its_loop[a->loop] = here;
    job.finished++;
    g_cond_broadcast(&job.cond);
    g_mutex_unlock(&job.lock);
}

static bool run_on_both_loops(void (*fn)(int loop))
{
    job.fn = fn;
    job.finished = 0;
    pthread_barrier_init(&job.barrier, NULL, 2);
    loop_invoke(loop_pool_get(srv.loops, 0), run_on_loop, &job_args[0]);
    loop_invoke(loop_pool_get(srv.loops, 1), run_on_loop, &job_args[1]);
    gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
    g_mutex_lock(&job.lock);
    while (job.finished < 2)
        if (!g_cond_wait_until(&job.cond, &job.lock, end))
            break;
    bool ok = job.finished == 2 && job.on_its_loop[0] && job.on_its_loop[1];
    g_mutex_unlock(&job.lock);
    if (ok)
        pthread_barrier_destroy(&job.barrier);
    return ok;
}

/* Round 1, on loop `loop`: close every handle of the other loop. */
static void close_other_loop(int loop)
{
    const core_callbacks *core = plugin_host_callbacks();
    for (int i = 0; i < N; i++) {
        if (handle_loop[i] == loop)
            continue;
        switch (i / 2 % 4) {
        case 0:
        case 1:
            core->close_pc(handles[i]);
            break;
        case 2:
            handle_detach(handles[i], true);
            break;
        default:
            core->end_handle(handles[i]);
            break;
        }
    }
}

static bool closed_in_round1(int i) { return i / 2 % 4 < 2; }

/* Round 2: loop 0 destroys the session, loop 1 closes the same PeerConnections. */
static void destroy_or_close(int loop)
{
    if (loop == 0) {
        session_destroy(reg, session);
        return;
    }
    for (int i = 0; i < N; i++)
        if (closed_in_round1(i))
            plugin_host_callbacks()->close_pc(handles[i]);
}

/* Counts the queued events of the session whose "janus" is verb. */
static int count_events(const char *verb)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"janus\":\"%s\"", verb);
    int n = 0;
    g_mutex_lock(&session->lock);
    for (GList *l = session->events.head; l; l = l->next)
        if (strstr(l->data, needle))
            n++;
    g_mutex_unlock(&session->lock);
    return n;
}

static void flush_loop(void *arg) { (void)arg; }

/* Waits until both loops ran everything posted to them so far (main thread only). */
static void flush_loops(void)
{
    for (int l = 0; l < 2; l++)
        loop_invoke_sync(loop_pool_get(srv.loops, l), flush_loop, NULL);
}

int main(void)
{
    if (getenv("PARLEY_TEST_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);
    g_mutex_init(&wd_lock);
    g_cond_init(&wd_cond);
    GThread *watchdog = g_thread_new("watchdog", watchdog_main, NULL);
    g_mutex_init(&job.lock);
    g_cond_init(&job.cond);

    CHECK_INT(peer_global_init(), PEER_OK);
    server_config cfg;
    char err[256] = "";
    char *argv[] = {"test_loop_close", NULL};
    char *envp[] = {NULL};
    CHECK_INT(config_load(&cfg, 1, argv, envp, err, sizeof err), CONFIG_RUN);
    srv.config = &cfg;
    srv.peer_cfg = (peer_config){.bind_ips = "127.0.0.1", .allow_loopback = true};
    srv.loops = loop_pool_create(2);
    reg = session_registry_create(&srv);
    plugin_host *ph = plugin_host_create(&srv, NULL);
    plugin_entry *pe = plugin_host_find(ph, "janus.plugin.echotest");
    CHECK(pe != NULL);
    session = session_create(reg, 0, 0);
    CHECK(pe && session);
    if (!pe || !session)
        return check_summary("core-loop-close");

    plugin_media_desc desc = {.audio = PLUGIN_DIR_SENDRECV, .video = PLUGIN_DIR_SENDRECV};
    offer = plugin_host_callbacks()->jsep_offer(&desc);
    CHECK(offer != NULL);

    /* Handles 0 and 1 land on the least loaded loops (one each); the others join them. */
    stage("negotiate");
    plugin_handle *anchor[2] = {NULL, NULL};
    for (int i = 0; i < N; i++) {
        handles[i] = handle_create(session, pe, NULL, 0);
        CHECK(handles[i] != NULL);
        CHECK_INT(plugin_host_create_session(handles[i]), 0);
        if (i >= 2)
            CHECK_INT(plugin_host_callbacks()->handle_colocate(handles[i], anchor[i % 2]), 0);
        handle_loop[i] = negotiate(handles[i]);
        if (i < 2)
            anchor[i] = handles[i];
    }
    CHECK(handle_loop[0] != handle_loop[1]);
    CHECK(handle_loop[0] >= 0 && handle_loop[0] < 2 && handle_loop[1] >= 0 && handle_loop[1] < 2);
    for (int i = 2; i < N; i++)
        CHECK_INT(handle_loop[i], handle_loop[i % 2]);
    CHECK_INT(atomic_load(&srv.counters.peers_created), N);
    CHECK_INT(peers_closed(), 0);

    /* Round 1: each loop closes the other's handles. */
    stage("round 1: loops close each other's handles");
    gint64 t0 = g_get_monotonic_time();
    CHECK(run_on_both_loops(close_other_loop));
    CHECK(wait_closed(N));
    CHECK_INT(peers_closed(), N);
    fprintf(stderr, "round 1: %d peers closed across loops in %.1f ms\n", N,
            (double)(g_get_monotonic_time() - t0) / 1000.0);
    flush_loops();   /* the close jobs push "hangup" after counting the close */
    int closed = 0, detached = 0;
    for (int i = 0; i < N; i++) {
        plugin_media_state st;
        int rc = plugin_host_callbacks()->handle_media_state(handles[i], &st);
        if (closed_in_round1(i)) {
            CHECK_INT(rc, 0);
            CHECK(!st.has_peer && st.loop == -1);
            closed++;
        } else {
            CHECK_INT(rc, -1);
            CHECK(plugin_host_callbacks()->handle_detached(handles[i]));
            detached++;
        }
    }
    CHECK_INT(count_events("hangup"), closed);
    CHECK_INT(count_events("detached"), detached);

    /* Round 2: the attached handles negotiate again (each on the loop it was on), then the
     * session goes away on loop 0 while loop 1 closes the same PeerConnections. */
    stage("round 2: renegotiate");
    for (int i = 0; i < N; i++) {
        if (!closed_in_round1(i))
            continue;
        int loop = negotiate(handles[i]);
        if (i >= 2)   /* colocated: back on its anchor's loop */
            CHECK_INT(loop, handle_loop[i]);
    }
    CHECK_INT(atomic_load(&srv.counters.peers_created), N + closed);
    stage("round 2: session destroyed while closing");
    t0 = g_get_monotonic_time();
    CHECK(run_on_both_loops(destroy_or_close));
    CHECK(wait_closed((uint64_t)(N + closed)));
    g_usleep(50000);   /* a double close would show up here */
    CHECK_INT(peers_closed(), N + closed);
    fprintf(stderr, "round 2: %d peers closed in %.1f ms\n", closed, (double)(g_get_monotonic_time() - t0) / 1000.0);
    for (int i = 0; i < N; i++)
        CHECK(plugin_host_callbacks()->handle_detached(handles[i]));
    CHECK_INT(session_registry_count(reg), 0);

    /* Tear down: our references, then everything the loops still hold. */
    stage("teardown");
    for (int i = 0; i < N; i++)
        handle_unref(handles[i]);
    session_unref(session);
    flush_loops();
    flush_loops();
    session_registry_destroy(reg);
    plugin_host_destroy(ph);
    loop_pool_destroy(srv.loops);
    free(offer);
    peer_global_deinit();
    config_free(&cfg);

    g_mutex_lock(&wd_lock);
    wd_done = true;
    g_cond_broadcast(&wd_cond);
    g_mutex_unlock(&wd_lock);
    g_thread_join(watchdog);
    return check_summary("core-loop-close");
}
