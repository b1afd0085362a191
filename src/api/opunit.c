/*
 * opunit: the plumbing every plugin-facing store operation shares (billing.c, chat.c): a
 * module's unit struct starts with an api_op; its unit function sets the outcome (a JSON
 * object with "ok") and returns API_OP_OK / _REFUSED (rolled back) / _FAILED; the outcome
 * reaches the caller as JSON text, either at once (api_op_run, blocking) or through a
 * callback on the storage thread (api_op_submit, store_write_async) that hands the outcome on
 * to be rendered as text where it is used (platform.h, platform_render_fn).
 *
 * Why one place: the rules "a commit that failed voids the unit's outcome" and "done runs
 * exactly once" are money rules; two copies of them would drift.
 */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static const char storage_failed[] = "{\"ok\":false,\"reason\":\"error\",\"message\":\"storage failed\"}";

int api_op_outcome(api_op *op, int rc, json_t *result)
{
    json_decref(op->result);
    op->result = result;
    return rc;
}

int api_op_refused(api_op *op, const char *reason, const char *message)
{
    return api_op_outcome(op, API_OP_REFUSED,
                          json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", reason, "message", message));
}

char *api_op_invalid(const char *why)
{
    json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "invalid", "message", why);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text ? text : strdup("{\"ok\":false,\"reason\":\"invalid\"}");
}

char *api_op_text(const api_op *op, int store_rc)
{
    if (store_rc <= STORE_EIO)   /* not acknowledged: the unit's output is void */
        return strdup(storage_failed);
    char *text = op->result ? json_dumps(op->result, JSON_COMPACT) : NULL;
    return text ? text : strdup("{\"ok\":false,\"reason\":\"error\",\"message\":\"no outcome\"}");
}

void api_op_free(api_op *op)
{
    if (!op)
        return;
    json_decref(op->result);
    op->result = NULL;
    op->release(op);
}

int api_op_exec(store_t *s, api_op *op)
{
    return op->read_only ? store_read(s, op->run, op)
           : op->parts   ? store_write_parts(s, op->run, op)
                         : store_write(s, op->run, op);
}

char *api_op_run(store_t *s, api_op *op)
{
    char *text = api_op_text(op, api_op_exec(s, op));
    api_op_free(op);
    return text;
}

static char *op_render(void *state)
{
    api_op *op = state;
    char *text = api_op_text(op, op->store_rc);
    api_op_free(op);
    return text;
}

static void op_done(int result, void *arg)
{
    api_op *op = arg;
    op->store_rc = result;
    op->done(op->done_arg, op_render, op);
}

int api_op_submit(store_t *s, api_op *op, platform_deferred_fn done, void *arg)
{
    op->done = done;
    op->done_arg = arg;
    if ((op->parts ? store_write_parts_async : store_write_async)(s, op->run, op, op_done, op) != 0) {
        api_op_free(op);
        return -1;
    }
    return 0;
}

static char *text_render(void *state)
{
    return state ? state : strdup(storage_failed);
}

void api_op_answer_now(platform_deferred_fn done, void *arg, char *text)
{
    done(arg, text_render, text);
}

typedef struct text_done {
    void (*done)(void *arg, const char *result_json);
    void *arg;
} text_done;

static void render_now(void *arg, platform_render_fn render, void *state)
{
    text_done *t = arg;
    char *text = render(state);
    t->done(t->arg, text ? text : storage_failed);
    free(text);
    free(t);
}

int api_submit_text(int (*submit)(platform_t *, const char *, platform_deferred_fn, void *), platform_t *p,
                    const char *op_json, void (*done)(void *arg, const char *result_json), void *arg)
{
    text_done *t = done ? malloc(sizeof *t) : NULL;
    if (!t)
        return -1;
    *t = (text_done){.done = done, .arg = arg};
    int rc = submit(p, op_json, render_now, t);
    if (rc != 0)
        free(t);
    return rc;
}
