/*
 * test_log: the logger's output as a log collector reads it. stderr is swapped for a pipe
 * (dup2) drained by a reader thread, and every line written in JSON mode must parse with
 * jansson (which refuses invalid UTF-8) into exactly {ts, level, module, msg} with the
 * message intact — quotes, backslashes, control characters, multi-byte UTF-8, invalid bytes
 * (replaced by U+FFFD), truncation, and lines from many threads at once.
 */
#include <glib.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"

/* ---- stderr capture ---- */

typedef struct capture {
    int saved_fd, pipe_rd;
    pthread_t reader;
    char *buf;
    size_t len, cap;
} capture;

static void *drain(void *arg)
{
    capture *c = arg;
    char chunk[4096];
    ssize_t n;
    while ((n = read(c->pipe_rd, chunk, sizeof chunk)) > 0) {
        if (c->len + (size_t)n + 1 > c->cap) {
            c->cap = (c->len + (size_t)n + 1) * 2;
            c->buf = realloc(c->buf, c->cap);
        }
        memcpy(c->buf + c->len, chunk, (size_t)n);
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return NULL;
}

static void capture_start(capture *c)
{
    int fds[2];
    memset(c, 0, sizeof *c);
    c->buf = calloc(1, 1);
    c->cap = 1;
    if (pipe(fds) != 0)
        abort();
    fflush(stderr);
    c->saved_fd = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    c->pipe_rd = fds[0];
    pthread_create(&c->reader, NULL, drain, c);
}

/* Restores stderr and returns everything written meanwhile (caller frees). */
static char *capture_stop(capture *c)
{
    fflush(stderr);
    dup2(c->saved_fd, STDERR_FILENO);   /* closes the pipe's last write end: the reader ends */
    close(c->saved_fd);
    pthread_join(c->reader, NULL);
    close(c->pipe_rd);
    return c->buf;
}

/* ---- line checks ---- */

/* Parses one JSON log line; checks the four members and nothing else. NULL if it fails. */
static json_t *parse_line(const char *line, size_t len)
{
    json_error_t err;
    json_t *o = json_loadb(line, len, 0, &err);
    if (!o) {
        fprintf(stderr, "not JSON (%s): %.*s\n", err.text, (int)len, line);
        return NULL;
    }
    const char *ts = json_string_value(json_object_get(o, "ts"));
    bool ok = json_is_object(o) && json_object_size(o) == 4 && ts && strlen(ts) == 24 && ts[4] == '-' &&
              ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z' && json_is_string(json_object_get(o, "level")) &&
              json_is_string(json_object_get(o, "module")) && json_is_string(json_object_get(o, "msg"));
    if (!ok) {
        fprintf(stderr, "wrong members: %.*s\n", (int)len, line);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Splits text into lines; every line must parse. Returns the array of objects (or NULL). */
static json_t *parse_all(const char *text)
{
    json_t *arr = json_array();
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            fprintf(stderr, "unterminated last line: %s\n", p);
            json_decref(arr);
            return NULL;
        }
        json_t *o = parse_line(p, (size_t)(nl - p));
        if (!o) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, o);
        p = nl + 1;
    }
    return arr;
}

static const char *member(json_t *arr, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(arr, i), key));
}

/* ---- cases ---- */

static void test_escaping(void)
{
    capture c;
    log_set_json(true);
    log_set_level(LOG_LEVEL_INFO);
    capture_start(&c);
    LOG_WARN("test", "quote \" backslash \\ newline \n tab \t bell \a unit-sep \x1f del \x7f end");
    LOG_WARN("test", "utf8 caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e ok");
    LOG_WARN("test", "bad \xff|\xc0\xaf|\x80|\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80|end");
    LOG_WARN("mod\"ule", "%s", "");
    char *text = capture_stop(&c);
    json_t *arr = parse_all(text);
    CHECK(arr != NULL);
    CHECK_INT(json_array_size(arr), 4);
    CHECK_STR(member(arr, 0, "msg"), "quote \" backslash \\ newline \n tab \t bell \a unit-sep \x1f del \x7f end");
    CHECK_STR(member(arr, 0, "level"), "warn");
    CHECK_STR(member(arr, 0, "module"), "test");
    CHECK_STR(member(arr, 1, "msg"), "utf8 caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e ok");
    /* Each byte that is not part of a valid sequence becomes U+FFFD (EF BF BD). */
#define R "\xef\xbf\xbd"
    CHECK_STR(member(arr, 2, "msg"), "bad " R "|" R R "|" R "|" R R R "|" R R "|" R R R R "|end");
#undef R
    CHECK_STR(member(arr, 3, "module"), "mod\"ule");
    CHECK_STR(member(arr, 3, "msg"), "");
    /* The raw text has no control character but the newline ending each line. */
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20)
            CHECK(*p == '\n');
    json_decref(arr);
    free(text);
}

static void test_long_messages(void)
{
    capture c;
    char big[5000];
    /* 'x' then a 3-byte character repeated: the 2047-byte cut falls inside one of them. */
    size_t o = 0;
    big[o++] = 'x';
    while (o + 3 < sizeof big) {
        memcpy(big + o, "\xe2\x82\xac", 3);
        o += 3;
    }
    big[o] = '\0';
    char ctl[2100];
    memset(ctl, '\x01', sizeof ctl - 1);
    ctl[sizeof ctl - 1] = '\0';
    log_set_json(true);
    capture_start(&c);
    LOG_ERROR("test", "%s", big);
    LOG_ERROR("test", "%s", ctl);
    char *text = capture_stop(&c);
    json_t *arr = parse_all(text);
    CHECK(arr != NULL);
    CHECK_INT(json_array_size(arr), 2);
    const char *m0 = member(arr, 0, "msg");
    CHECK(m0 && strlen(m0) >= 2040 && strlen(m0) <= 2047 + 3);
    CHECK(m0 && strncmp(m0, big, 2044) == 0);
    const char *m1 = member(arr, 1, "msg");
    CHECK_INT(m1 ? strlen(m1) : 0, 2047); /* 2047 control bytes, each escaped, none lost */
    json_decref(arr);
    free(text);
}

static void test_levels(void)
{
    capture c;
    log_set_json(true);
    log_set_level(LOG_LEVEL_TRACE);
    capture_start(&c);
    LOG_ERROR("lv", "e");
    LOG_WARN("lv", "w");
    LOG_INFO("lv", "i");
    LOG_DEBUG("lv", "d");
    LOG_TRACE("lv", "t");
    log_set_level(LOG_LEVEL_ERROR);
    LOG_WARN("lv", "hidden");
    LOG_INFO("lv", "hidden");
    LOG_NOTICE("lv", "notice at error level");
    LOG_ERROR("lv", "e2");
    log_set_level(LOG_LEVEL_INFO);
    LOG_DEBUG("lv", "hidden");
    char *text = capture_stop(&c);
    json_t *arr = parse_all(text);
    CHECK(arr != NULL);
    static const char *const want[][2] = {{"error", "e"}, {"warn", "w"}, {"info", "i"}, {"debug", "d"},
                                          {"trace", "t"}, {"notice", "notice at error level"}, {"error", "e2"}};
    CHECK_INT(json_array_size(arr), 7);
    for (size_t i = 0; i < 7 && arr && i < json_array_size(arr); i++) {
        CHECK_STR(member(arr, i, "level"), want[i][0]);
        CHECK_STR(member(arr, i, "msg"), want[i][1]);
    }
    json_decref(arr);
    free(text);

    CHECK_INT(log_level_parse("error"), LOG_LEVEL_ERROR);
    CHECK_INT(log_level_parse("warn"), LOG_LEVEL_WARN);
    CHECK_INT(log_level_parse("warning"), LOG_LEVEL_WARN);
    CHECK_INT(log_level_parse("info"), LOG_LEVEL_INFO);
    CHECK_INT(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    CHECK_INT(log_level_parse("trace"), LOG_LEVEL_TRACE);
    CHECK_INT(log_level_parse("verbose"), -1);
    CHECK_INT(log_level_parse("INFO"), -1);
    CHECK_INT(log_level_parse(""), -1);
    CHECK_INT(log_level_parse(NULL), -1);
    CHECK_STR(log_level_name(LOG_LEVEL_NOTICE), "notice");
    CHECK_STR(log_level_name(LOG_LEVEL_DEBUG), "debug");
}

static void test_text_mode(void)
{
    capture c;
    log_set_json(false);
    log_set_level(LOG_LEVEL_INFO);
    capture_start(&c);
    LOG_INFO("plain", "hello %d", 42);
    char *text = capture_stop(&c);
    CHECK(json_loads(text, 0, NULL) == NULL);
    CHECK(strlen(text) > 24 && text[10] == 'T' && text[23] == 'Z');
    CHECK(strstr(text, " info  [plain] hello 42\n") != NULL);
    free(text);
}

/* GLib's messages (libnice logs through them) come out in our format at our level. */
static void test_glib_routed(void)
{
    capture c;
    log_route_glib();
    log_route_glib(); /* a second call is harmless */
    log_set_json(true);
    log_set_level(LOG_LEVEL_INFO);
    capture_start(&c);
    g_log("libnice", G_LOG_LEVEL_WARNING, "agent %d: \"odd\" \xff", 7);
    g_message("plain message");
    g_debug("hidden at info");
    log_set_level(LOG_LEVEL_TRACE);
    g_log("libnice", G_LOG_LEVEL_DEBUG, "debug as trace");
    log_set_level(LOG_LEVEL_INFO);
    char *text = capture_stop(&c);
    json_t *arr = parse_all(text);
    CHECK(arr != NULL);
    CHECK_INT(arr ? json_array_size(arr) : 0, 3);
    CHECK_STR(member(arr, 0, "module"), "libnice");
    CHECK_STR(member(arr, 0, "level"), "warn");
    CHECK_STR(member(arr, 0, "msg"), "agent 7: \"odd\" \xef\xbf\xbd");
    CHECK_STR(member(arr, 1, "level"), "info");
    CHECK_STR(member(arr, 1, "msg"), "plain message");
    CHECK_STR(member(arr, 2, "level"), "trace");
    CHECK_STR(member(arr, 2, "msg"), "debug as trace");
    json_decref(arr);
    free(text);
}

#define THREADS 4
#define LINES_PER_THREAD 500

static void *log_many(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < LINES_PER_THREAD; i++)
        LOG_WARN("thread", "thread %ld line %d \"quoted\" caf\xc3\xa9 %s", id, i, "padding padding padding padding");
    return NULL;
}

static void test_threads(void)
{
    capture c;
    log_set_json(true);
    capture_start(&c);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, log_many, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = capture_stop(&c);
    json_t *arr = parse_all(text);
    CHECK(arr != NULL);
    CHECK_INT(arr ? json_array_size(arr) : 0, THREADS * LINES_PER_THREAD);
    /* Each thread's lines arrive whole and in its order. */
    int next[THREADS] = {0};
    bool in_order = true;
    for (size_t i = 0; arr && i < json_array_size(arr); i++) {
        long id = -1;
        int line = -1;
        if (sscanf(member(arr, i, "msg"), "thread %ld line %d", &id, &line) != 2 || id < 0 || id >= THREADS ||
            line != next[id]++)
            in_order = false;
    }
    CHECK(in_order);
    json_decref(arr);
    free(text);
}

/* ---- rate-limited lines, on a fake clock ---- */

static _Atomic long long fake_ms;
static long long fake_clock(void) { return atomic_load(&fake_ms); }

static void site_two(void)
{
    LOG_WARN_RATELIMITED("rl", "site %d", 2);
}

static void test_ratelimit(void)
{
    capture c;
    log_set_json(true);
    log_set_level(LOG_LEVEL_INFO);
    log_set_clock(fake_clock);
    atomic_store(&fake_ms, 5000);
    static log_ratelimit rl = LOG_RATELIMIT_INIT(1000);
    static log_ratelimit other;   /* zeroed: the default interval (1 s) */
    capture_start(&c);
    for (int i = 0; i < 10; i++)   /* one line, nine suppressed */
        log_msg_ratelimited(&rl, LOG_LEVEL_WARN, "rl", "refused %d", i);
    log_msg_ratelimited(&other, LOG_LEVEL_WARN, "rl", "other key");   /* its own limit */
    atomic_store(&fake_ms, 5999);
    log_msg_ratelimited(&rl, LOG_LEVEL_WARN, "rl", "refused %d", 10);   /* still within the second */
    atomic_store(&fake_ms, 6000);
    log_msg_ratelimited(&rl, LOG_LEVEL_WARN, "rl", "refused %d", 11);   /* a new second: 10 suppressed */
    log_msg_ratelimited(&other, LOG_LEVEL_WARN, "rl", "other key");
    atomic_store(&fake_ms, 60000);
    log_msg_ratelimited(&rl, LOG_LEVEL_WARN, "rl", "refused %d", 12);   /* quiet since: nothing suppressed */
    log_set_level(LOG_LEVEL_ERROR);
    atomic_store(&fake_ms, 70000);
    log_msg_ratelimited(&rl, LOG_LEVEL_WARN, "rl", "hidden");          /* level off: not counted */
    log_set_level(LOG_LEVEL_INFO);
    atomic_store(&fake_ms, 80000);
    LOG_WARN_RATELIMITED("rl", "site %d", 1);
    for (int i = 0; i < 3; i++)
        site_two();   /* another call site, another limiter */
    atomic_store(&fake_ms, 81000);
    for (int i = 0; i < 2; i++)
        site_two();
    char *text = capture_stop(&c);
    log_set_clock(NULL);
    json_t *arr = parse_all(text);
    CHECK(arr != NULL);
    static const char *const want[] = {
        "refused 0", "other key", "refused 11 (10 similar messages suppressed)",
        "other key", "refused 12", "site 1", "site 2", "site 2 (2 similar messages suppressed)",
    };
    size_t n = sizeof want / sizeof want[0];
    CHECK_INT(arr ? json_array_size(arr) : 0, n);
    for (size_t i = 0; arr && i < n && i < json_array_size(arr); i++) {
        CHECK_STR(member(arr, i, "msg"), want[i]);
        CHECK_STR(member(arr, i, "level"), "warn");
    }
    json_decref(arr);
    free(text);
    /* The real clock is back: monotonic milliseconds. */
    long long a = log_now_ms();
    CHECK(a > 0 && log_now_ms() >= a);
}

/* Many threads hitting one limiter within one second: exactly one line, the rest counted. */
static log_ratelimit shared_rl = LOG_RATELIMIT_INIT(1000);
static atomic_int allowed_lines;

static void *hit_limiter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        if (log_ratelimit_allow(&shared_rl, NULL))
            atomic_fetch_add(&allowed_lines, 1);
    return NULL;
}

static void test_ratelimit_threads(void)
{
    log_set_clock(fake_clock);
    atomic_store(&fake_ms, 100000);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hit_limiter, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(atomic_load(&allowed_lines), 1);
    atomic_store(&fake_ms, 101000);
    unsigned dropped = 0;
    CHECK(log_ratelimit_allow(&shared_rl, &dropped));
    CHECK_INT(dropped, THREADS * 1000 - 1);
    log_set_clock(NULL);
}

int main(void)
{
    test_escaping();
    test_long_messages();
    test_levels();
    test_text_mode();
    test_threads();
    test_glib_routed();
    test_ratelimit();
    test_ratelimit_threads();
    return check_summary("test_log");
}
