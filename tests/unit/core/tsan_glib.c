/*
 * tsan_glib: makes GLib's synchronisation visible to ThreadSanitizer. Linked into the
 * 'concurrency' tests of a -Db_sanitize=thread build only (tests/unit/core/meson.build).
 *
 * Why: Debian's GLib is not built with TSan, and its GMutex/GCond are futex-based (no
 * pthread_mutex that TSan could intercept), so TSan sees none of the happens-before edges
 * they create and reports every access guarded by a GMutex, and every hand-off through a
 * GMainContext (loop_invoke, the plugin dispatch queue, timers), as a data race. Suppressing
 * those would also hide real races in src/; instead this file tells TSan about the edges,
 * exactly as its own pthread interceptors do for pthread primitives:
 *   - g_mutex_* / g_rec_mutex_*: acquire after lock, release before unlock, on the mutex;
 *     g_cond_wait*: the mutex is released while waiting and acquired again after;
 *   - idle and timeout GSources (what src/ posts to other threads): everything the attaching
 *     thread did before g_source_attach happens before the source's callback runs;
 *   - g_strerror: GLib caches each message in a table behind its own lock, and GIO calls it
 *     from every loop (a socket read that would block); calls are serialised here with a
 *     pthread mutex TSan can see, so the thread that reads a message another one cached is
 *     ordered after it.
 * The definitions here take precedence over GLib's for calls from the test binary (src/ is
 * linked in statically) and from other libraries such as libnice; GLib's calls to itself are
 * bound inside the library and are left alone. Each wrapper calls the real function found
 * with dlsym(RTLD_NEXT).
 *
 * Nothing is suppressed: a race between two accesses that no lock, queue or thread
 * start/join orders is still reported.
 */
#include <dlfcn.h>
#include <glib.h>
#include <pthread.h>
#include <sanitizer/tsan_interface.h>
#include <stdio.h>
#include <stdlib.h>

/* The real GLib function, resolved once (racing resolutions store the same value). */
#define REAL(ret, name, params)                                                         \
    static ret(*real_##name) params;                                                    \
    static ret(*get_##name(void)) params                                               \
    {                                                                                   \
        ret(*fn) params = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE);              \
        if (!fn) {                                                                      \
            fn = (ret(*) params)dlsym(RTLD_NEXT, #name);                                \
            if (!fn) {                                                                  \
                fprintf(stderr, "tsan_glib: %s not found\n", #name);                    \
                abort();                                                                \
            }                                                                           \
            __atomic_store_n(&real_##name, fn, __ATOMIC_RELEASE);                       \
        }                                                                               \
        return fn;                                                                      \
    }

REAL(void, g_mutex_lock, (GMutex *))
REAL(void, g_mutex_unlock, (GMutex *))
REAL(gboolean, g_mutex_trylock, (GMutex *))
REAL(void, g_rec_mutex_lock, (GRecMutex *))
REAL(void, g_rec_mutex_unlock, (GRecMutex *))
REAL(gboolean, g_rec_mutex_trylock, (GRecMutex *))
REAL(void, g_cond_wait, (GCond *, GMutex *))
REAL(gboolean, g_cond_wait_until, (GCond *, GMutex *, gint64))
REAL(guint, g_source_attach, (GSource *, GMainContext *))
REAL(void, g_source_set_callback, (GSource *, GSourceFunc, gpointer, GDestroyNotify))
REAL(const gchar *, g_strerror, (gint))

void g_mutex_lock(GMutex *m)
{
    get_g_mutex_lock()(m);
    __tsan_acquire(m);
}

void g_mutex_unlock(GMutex *m)
{
    __tsan_release(m);
    get_g_mutex_unlock()(m);
}

gboolean g_mutex_trylock(GMutex *m)
{
    gboolean locked = get_g_mutex_trylock()(m);
    if (locked)
        __tsan_acquire(m);
    return locked;
}

void g_rec_mutex_lock(GRecMutex *m)
{
    get_g_rec_mutex_lock()(m);
    __tsan_acquire(m);
}

void g_rec_mutex_unlock(GRecMutex *m)
{
    __tsan_release(m);
    get_g_rec_mutex_unlock()(m);
}

gboolean g_rec_mutex_trylock(GRecMutex *m)
{
    gboolean locked = get_g_rec_mutex_trylock()(m);
    if (locked)
        __tsan_acquire(m);
    return locked;
}

void g_cond_wait(GCond *c, GMutex *m)
{
    __tsan_release(m);
    get_g_cond_wait()(c, m);
    __tsan_acquire(m);
}

gboolean g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
    __tsan_release(m);
    gboolean signalled = get_g_cond_wait_until()(c, m, end_time);
    __tsan_acquire(m);
    return signalled;
}

/* ---- GSource hand-offs ---- */

/* The callback of an idle or timeout source, wrapped: it first acquires what the attaching
 * thread released on the source. Immutable once set. */
typedef struct tsan_callback {
    GSourceFunc func;
    gpointer data;
    GDestroyNotify notify;
} tsan_callback;

static gboolean tsan_dispatch(gpointer arg)
{
    tsan_callback *cb = arg;
    GSource *current = g_main_current_source();
    if (current)
        __tsan_acquire(current);
    __tsan_acquire(cb);
    return cb->func(cb->data);
}

static void tsan_callback_free(gpointer arg)
{
    tsan_callback *cb = arg;
    __tsan_acquire(cb);
    if (cb->notify)
        cb->notify(cb->data);
    free(cb);
}

guint g_source_attach(GSource *source, GMainContext *context)
{
    __tsan_release(source);
    return get_g_source_attach()(source, context);
}

void g_source_set_callback(GSource *source, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
    /* Only sources whose dispatch calls a plain GSourceFunc with our data: other types
     * (GSocket sources, custom ones found again by their user data) pass through as is. */
    if (!func || (source->source_funcs != &g_idle_funcs && source->source_funcs != &g_timeout_funcs)) {
        get_g_source_set_callback()(source, func, data, notify);
        return;
    }
    tsan_callback *cb = malloc(sizeof *cb);
    if (!cb)
        abort();
    *cb = (tsan_callback){.func = func, .data = data, .notify = notify};
    __tsan_release(cb);
    get_g_source_set_callback()(source, tsan_dispatch, cb, tsan_callback_free);
}

/* ---- GLib's message cache ---- */

static pthread_mutex_t strerror_lock = PTHREAD_MUTEX_INITIALIZER;

const gchar *g_strerror(gint errnum)
{
    pthread_mutex_lock(&strerror_lock);
    const gchar *msg = get_g_strerror()(errnum);
    pthread_mutex_unlock(&strerror_lock);
    return msg;
}
