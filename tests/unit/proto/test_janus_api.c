/* Unit tests of the sans-IO Janus API parser: every error code a client can provoke, and
 * the happy path of each verb at each level. */
#include <stdlib.h>

#include "check.h"
#include "proto/janus_api.h"

/* Both phases, as the core runs them once the session/handle exist. */
static int parse_code(const char *text, const janus_path *path)
{
    janus_request req;
    janus_error err;
    int rc = janus_request_parse(text, strlen(text), path, &req, &err);
    if (rc == 0)
        rc = janus_request_check(&req, &err);
    janus_request_clear(&req);
    return rc == 0 ? 0 : err.code;
}

static const janus_path ws = {.from_path = false};

static void test_errors(void)
{
    CHECK_INT(parse_code("not json", &ws), 454);
    CHECK_INT(parse_code("[1,2]", &ws), 455);
    CHECK_INT(parse_code("{\"janus\":\"create\"}", &ws), 456);
    CHECK_INT(parse_code("{\"transaction\":\"t\"}", &ws), 456);
    CHECK_INT(parse_code("{\"janus\":5,\"transaction\":\"t\"}", &ws), 467);
    CHECK_INT(parse_code("{\"janus\":\"create\",\"transaction\":7}", &ws), 467);
    CHECK_INT(parse_code("{\"janus\":\"bogus\",\"transaction\":\"t\"}", &ws), 457);
    CHECK_INT(parse_code("{\"janus\":\"attach\",\"transaction\":\"t\"}", &ws), 457); /* attach at root */
    CHECK_INT(parse_code("{\"janus\":\"attach\",\"transaction\":\"t\",\"session_id\":1}", &ws), 456);
    CHECK_INT(parse_code("{\"janus\":\"attach\",\"transaction\":\"t\",\"session_id\":1,\"plugin\":3}", &ws), 467);
    CHECK_INT(parse_code("{\"janus\":\"message\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2}", &ws), 456);
    CHECK_INT(parse_code("{\"janus\":\"message\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2,\"body\":\"x\"}", &ws), 467);
    CHECK_INT(parse_code("{\"janus\":\"message\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2,\"body\":{},"
                         "\"jsep\":{\"type\":\"pranswer\",\"sdp\":\"v=0\"}}", &ws), 464);
    CHECK_INT(parse_code("{\"janus\":\"message\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2,\"body\":{},"
                         "\"jsep\":{\"type\":\"offer\"}}", &ws), 456);
    CHECK_INT(parse_code("{\"janus\":\"message\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2,\"body\":{},"
                         "\"jsep\":\"x\"}", &ws), 455);
    CHECK_INT(parse_code("{\"janus\":\"bogus\",\"transaction\":\"t\",\"session_id\":1}", &ws), 453);
    CHECK_INT(parse_code("{\"janus\":\"attach\",\"transaction\":\"t\",\"session_id\":\"abc\",\"plugin\":\"p\"}", &ws), 457);
    CHECK_INT(parse_code("{\"janus\":\"trickle\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2}", &ws), 456);
    CHECK_INT(parse_code("{\"janus\":\"trickle\",\"transaction\":\"t\",\"session_id\":1,\"handle_id\":2,\"candidate\":1}", &ws), 467);
    CHECK_INT(parse_code("{\"janus\":\"keepalive\",\"transaction\":\"t\",\"session_id\":\"1\"}", &ws), 457);
    CHECK_INT(parse_code("{\"janus\":\"keepalive\",\"transaction\":\"t\",\"handle_id\":3}", &ws), 457);
    CHECK_INT(parse_code("{\"janus\":\"create\",\"transaction\":\"t\",\"janus\":\"create\"}", &ws), 454);
    /* nesting beyond the limit */
    char deep[200];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"janus\":\"create\",\"transaction\":\"t\",\"x\":");
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    CHECK_INT(parse_code(deep, &ws), 454);
    CHECK_INT(parse_code("", &ws), 452);
}

static void test_paths(void)
{
    janus_path p;
    janus_error e;
    CHECK_INT(janus_path_parse("/janus", &p, &e), 0);
    CHECK_INT(p.session_id, 0);
    CHECK_INT(janus_path_parse("/janus/12/34", &p, &e), 0);
    CHECK_INT(p.session_id, 12);
    CHECK_INT(p.handle_id, 34);
    CHECK_INT(janus_path_parse("/janus/abc", &p, &e), -1);
    CHECK_INT(e.code, 457);
    CHECK_INT(janus_path_parse("/janus/1/2/3", &p, &e), -1);
    CHECK_INT(janus_path_parse("/janus/1x", &p, &e), -1);
    CHECK_INT(janus_path_parse("/janusx", &p, &e), -1);
    CHECK_INT(janus_path_parse("/janus/99999999999999999999999", &p, &e), -1);

    janus_path root = {.from_path = true};
    janus_path sess = {.from_path = true, .session_id = 5};
    janus_path hnd = {.from_path = true, .session_id = 5, .handle_id = 6};
    CHECK_INT(parse_code("{\"janus\":\"create\",\"transaction\":\"t\"}", &root), 0);
    CHECK_INT(parse_code("{\"janus\":\"create\",\"transaction\":\"t\"}", &sess), 453);
    CHECK_INT(parse_code("{\"janus\":\"attach\",\"transaction\":\"t\",\"plugin\":\"p\"}", &sess), 0);
    CHECK_INT(parse_code("{\"janus\":\"detach\",\"transaction\":\"t\"}", &sess), 457);
    CHECK_INT(parse_code("{\"janus\":\"detach\",\"transaction\":\"t\"}", &hnd), 0);
    CHECK_INT(parse_code("{\"janus\":\"hangup\",\"transaction\":\"t\"}", &hnd), 0);
}

static void test_happy(void)
{
    janus_request req;
    janus_error err;
    const char *msg = "{\"janus\":\"message\",\"transaction\":\"abc\",\"session_id\":10,\"handle_id\":20,"
                      "\"token\":\"tok\",\"body\":{\"audio\":true},\"jsep\":{\"type\":\"offer\",\"sdp\":\"v=0\"}}";
    CHECK_INT(janus_request_parse(msg, strlen(msg), &ws, &req, &err), 0);
    CHECK_INT(janus_request_check(&req, &err), 0);
    CHECK_INT(req.verb, JANUS_VERB_MESSAGE);
    CHECK_INT(req.level, JANUS_LEVEL_HANDLE);
    CHECK_STR(req.transaction, "abc");
    CHECK_STR(req.token, "tok");
    CHECK_STR(req.jsep_type, "offer");
    CHECK_STR(req.jsep_sdp, "v=0");
    CHECK(req.jsep_trickle);
    janus_request_clear(&req);

    const char *tr = "{\"janus\":\"trickle\",\"transaction\":\"x\",\"session_id\":1,\"handle_id\":2,"
                     "\"candidate\":{\"candidate\":\"candidate:1 1 udp 1 127.0.0.1 5000 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}";
    CHECK_INT(janus_request_parse(tr, strlen(tr), &ws, &req, &err), 0);
    CHECK_INT(janus_request_check(&req, &err), 0);
    const char *c, *mid;
    int idx;
    CHECK_INT(janus_candidate_parse(req.candidate, &c, &mid, &idx), 1);
    CHECK_STR(mid, "0");
    CHECK_INT(idx, 0);
    janus_request_clear(&req);

    json_t *done = json_pack("{s:b}", "completed", 1);
    CHECK_INT(janus_candidate_parse(done, &c, &mid, &idx), 0);
    json_decref(done);

    char *e = janus_build_error(5, "t", 458, NULL);
    CHECK(strstr(e, "\"code\":458") != NULL);
    CHECK(strstr(e, "\"session_id\":5") != NULL);
    free(e);
}

int main(void)
{
    test_errors();
    test_paths();
    test_happy();
    return check_summary("janus_api");
}
