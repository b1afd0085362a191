/*
 * echotest: janus.plugin.echotest — sends everything a client sends back to it: RTP (audio
 * and video, each switchable), RTCP feedback, and data-channel messages. It is the
 * connectivity check every Janus client runs first, so it accepts Janus's echotest requests
 * ({"audio":bool,"video":bool,"bitrate":int}) and answers with its events
 * ({"echotest":"event","result":"ok"}; errors carry error_code 411-414 as Janus's do).
 *
 * Threads (plugin.h): handle_message on the dispatch thread; incoming_* on the handle's loop.
 * The switches are atomics written by the former and read by the latter.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define ECHOTEST_ERROR_NO_MESSAGE 411
#define ECHOTEST_ERROR_INVALID_JSON 412
#define ECHOTEST_ERROR_INVALID_ELEMENT 413
#define ECHOTEST_ERROR_INVALID_SDP 414

static const core_callbacks *core;

typedef struct echo_session {
    plugin_handle *handle;
    atomic_bool audio_on, video_on;
    atomic_uint bitrate;     /* 0 = no cap */
    atomic_bool media_up;
    atomic_bool keyframe_wanted; /* set off the loop, acted on by the next incoming packet */
} echo_session;

static int echotest_init(const core_callbacks *callbacks, const plugin_init_info *info)
{
    if (!callbacks || callbacks->abi_version != PLUGIN_ABI_VERSION || callbacks->struct_size < sizeof *callbacks)
        return -1;
    core = callbacks;
    return 0;
}

static void echotest_destroy(void) { core = NULL; }

static void *echotest_create_session(plugin_handle *h, int *error)
{
    echo_session *s = calloc(1, sizeof *s);
    s->handle = h;
    atomic_init(&s->audio_on, true);
    atomic_init(&s->video_on, true);
    return s;
}

static void echotest_destroy_session(void *session, int *error) { free(session); }

static plugin_result error_result(int code, const char *reason)
{
    json_t *o = json_pack("{s:s,s:i,s:s}", "echotest", "event", "error_code", code, "error", reason);
    plugin_result r = {.kind = PLUGIN_RESULT_EVENT, .json = json_dumps(o, JSON_COMPACT)};
    json_decref(o);
    return r;
}

/* Reads an optional boolean member; -1 on a wrong type. */
static int read_bool(json_t *body, const char *key, atomic_bool *out)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return -1;
    atomic_store(out, json_is_true(v));
    return 0;
}

static plugin_result echotest_handle_message(void *session, const char *transaction, const char *body_json,
                                             const char *jsep_json)
{
    echo_session *s = session;
    if (!body_json)
        return error_result(ECHOTEST_ERROR_NO_MESSAGE, "No message??");
    json_t *body = json_loads(body_json, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return error_result(ECHOTEST_ERROR_INVALID_JSON, "JSON error: not an object");
    }
    json_t *bitrate = json_object_get(body, "bitrate");
    bool video_was_on = atomic_load(&s->video_on);
    if (read_bool(body, "audio", &s->audio_on) < 0 || read_bool(body, "video", &s->video_on) < 0 ||
        (bitrate && (!json_is_integer(bitrate) || json_integer_value(bitrate) < 0))) {
        json_decref(body);
        return error_result(ECHOTEST_ERROR_INVALID_ELEMENT, "Invalid element (audio/video should be booleans, bitrate a positive integer)");
    }
    if (bitrate)
        atomic_store(&s->bitrate, (unsigned)json_integer_value(bitrate));
    /* Video switched back on: the receiver's decoder needs a keyframe to resume. */
    if (!video_was_on && atomic_load(&s->video_on))
        atomic_store(&s->keyframe_wanted, true);
    json_decref(body);

    char *answer = NULL;
    if (jsep_json) {
        answer = core->jsep_answer(jsep_json, NULL);
        if (!answer)
            return error_result(ECHOTEST_ERROR_INVALID_SDP, "Error generating the answer (unusable offer)");
    }
    json_t *ev = json_pack("{s:s,s:s}", "echotest", "event", "result", "ok");
    char *ev_text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    core->push_event(s->handle, transaction, ev_text, answer);
    free(ev_text);
    free(answer);
    return (plugin_result){.kind = PLUGIN_RESULT_NONE};
}

static void echotest_setup_media(void *session)
{
    echo_session *s = session;
    atomic_store(&s->media_up, true);
    /* The echoed video starts decoding only from a keyframe: ask for one with the first
     * video packet (before it the sender's SSRC is unknown). */
    atomic_store(&s->keyframe_wanted, true);
}

static void echotest_incoming_rtp(void *session, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    echo_session *s = session;
    if (kind == PLUGIN_MEDIA_VIDEO && atomic_load_explicit(&s->keyframe_wanted, memory_order_relaxed) &&
        atomic_exchange(&s->keyframe_wanted, false))
        core->send_pli(s->handle);
    bool on = kind == PLUGIN_MEDIA_VIDEO ? atomic_load_explicit(&s->video_on, memory_order_relaxed)
                                         : atomic_load_explicit(&s->audio_on, memory_order_relaxed);
    if (on)
        core->relay_rtp(s->handle, kind, buf, len);
}

static void echotest_incoming_rtcp(void *session, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    echo_session *s = session;
    core->relay_rtcp(s->handle, kind, buf, len);
    unsigned cap = atomic_load_explicit(&s->bitrate, memory_order_relaxed);
    if (cap && kind == PLUGIN_MEDIA_VIDEO)
        core->send_remb(s->handle, cap);
}

static void echotest_incoming_data(void *session, const char *label, int binary, const uint8_t *buf, size_t len)
{
    echo_session *s = session;
    core->relay_data(s->handle, label, binary, buf, len);
}

static void echotest_hangup_media(void *session)
{
    echo_session *s = session;
    if (!atomic_exchange(&s->media_up, false))
        return;
    atomic_store(&s->audio_on, true);
    atomic_store(&s->video_on, true);
    atomic_store(&s->bitrate, 0);
    core->push_event(s->handle, NULL, "{\"echotest\":\"event\",\"result\":\"done\"}", NULL);
}

static char *echotest_query_session(void *session)
{
    echo_session *s = session;
    json_t *o = json_pack("{s:b,s:b,s:i}", "audio_active", atomic_load(&s->audio_on), "video_active",
                          atomic_load(&s->video_on), "bitrate", (int)atomic_load(&s->bitrate));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static const plugin_descriptor echotest_descriptor = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(plugin_descriptor),
    .package = "janus.plugin.echotest",
    .name = "Echo test",
    .description = "Echoes audio, video, RTCP feedback and data-channel messages back to the sender.",
    .author = "parley contributors",
    .version = 7,
    .version_string = "0.0.7",
    .init = echotest_init,
    .destroy = echotest_destroy,
    .create_session = echotest_create_session,
    .handle_message = echotest_handle_message,
    .setup_media = echotest_setup_media,
    .incoming_rtp = echotest_incoming_rtp,
    .incoming_rtcp = echotest_incoming_rtcp,
    .incoming_data = echotest_incoming_data,
    .hangup_media = echotest_hangup_media,
    .destroy_session = echotest_destroy_session,
    .query_session = echotest_query_session,
};

const plugin_descriptor *echotest_plugin_descriptor(void);
const plugin_descriptor *echotest_plugin_descriptor(void) { return &echotest_descriptor; }
