/*
 * turn: coturn shared-secret credentials against vectors computed outside our code, the
 * STUN/TURN URI checks, the ice-servers JSON (entries left out when not configured), the
 * handler through a real platform object, and the config errors that name the setting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/turn.h"
#include "check.h"
#include "util/config.h"
#include "util/log.h"

#define SECRET "parley-turn-test-secret"

static void test_vectors(void)
{
    char user[TURN_USERNAME_MAX], cred[TURN_CREDENTIAL_MAX];
    /* RFC 2202 section 3, test case 2, as base64:
     *   printf '%s' 'what do ya want for nothing?' | openssl dgst -sha1 -hmac 'Jefe' -binary | base64
     *   -> 7/zfauXrL6LSdBbV8YTfnCWafHk=   (hex effcdf6ae5eb2fa2d27416d5f184df9c259a7c79) */
    CHECK_INT(turn_credential((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", cred,
                              sizeof(cred)), 0);
    CHECK_STR(cred, "7/zfauXrL6LSdBbV8YTfnCWafHk=");

    /* printf '%s' '1700000000:42' | openssl dgst -sha1 -hmac 'parley-turn-test-secret' -binary | base64
     * python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
     *   b'parley-turn-test-secret',b'1700000000:42',hashlib.sha1).digest()).decode())"
     *   -> wNNDhf+CM7m4Q5x/+JOzphFiJ6Q=   (both agree) */
    CHECK_INT(turn_mint((const uint8_t *)SECRET, strlen(SECRET), 1700000000, 42, user,
                        sizeof(user), cred, sizeof(cred)), 0);
    CHECK_STR(user, "1700000000:42");
    CHECK_STR(cred, "wNNDhf+CM7m4Q5x/+JOzphFiJ6Q=");

    /* the largest user id:
     * printf '%s' '1735689600:18446744073709551615' | openssl dgst -sha1 -hmac 'north' -binary | base64
     *   -> qZGBO1DUZ6jD5E7xJM80tjvDjzs= */
    CHECK_INT(turn_mint((const uint8_t *)"north", 5, 1735689600, UINT64_MAX, user, sizeof(user),
                        cred, sizeof(cred)), 0);
    CHECK_STR(user, "1735689600:18446744073709551615");
    CHECK_STR(cred, "qZGBO1DUZ6jD5E7xJM80tjvDjzs=");

    /* another secret gives another credential for the same username */
    CHECK_INT(turn_mint((const uint8_t *)"other", 5, 1700000000, 42, user, sizeof(user), cred,
                        sizeof(cred)), 0);
    CHECK(strcmp(cred, "wNNDhf+CM7m4Q5x/+JOzphFiJ6Q=") != 0);

    /* short buffers are refused, never truncated */
    char small[8];
    CHECK_INT(turn_mint((const uint8_t *)SECRET, strlen(SECRET), 1700000000, 42, small,
                        sizeof(small), cred, sizeof(cred)), -1);
    CHECK_INT(turn_credential((const uint8_t *)SECRET, strlen(SECRET), "1:1", small,
                              sizeof(small)), -1);
    char c28[28];   /* 28 characters need 29 bytes with the NUL */
    CHECK_INT(turn_credential((const uint8_t *)SECRET, strlen(SECRET), "1:1", c28, sizeof(c28)),
              -1);
}

static void test_uris(void)
{
    char err[256];
    CHECK_INT(turn_uri_list_check("", false, "s", err, sizeof(err)), 0);
    CHECK_INT(turn_uri_list_check("  ", true, "s", err, sizeof(err)), 0);
    CHECK_INT(turn_uri_list_check(NULL, true, "s", err, sizeof(err)), 0);
    CHECK_INT(turn_uri_list_check("stun:stun.example.org", false, "s", err, sizeof(err)), 1);
    CHECK_INT(turn_uri_list_check("stun:stun.example.org:19302, stuns:[2001:db8::1]:5349",
                                  false, "s", err, sizeof(err)), 2);
    CHECK_INT(turn_uri_list_check("turn:127.0.0.2:3478?transport=udp,turns:t.example.org:443"
                                  "?transport=tcp,TURN:10.0.0.1", true, "s", err, sizeof(err)),
              3);

    static const struct { const char *list; bool turn; const char *want; } bad[] = {
        {"turn:x", false, "must start with stun: or stuns:"},
        {"stun:x", true, "must start with turn: or turns:"},
        {"http://x", true, "must start with turn:"},
        {"stunx:x", false, "must start with stun:"},
        {"stun://host", false, "has no valid host"},
        {"stun:", false, "has no valid host"},
        {"stun:[zz::1]", false, "has no valid host"},
        {"stun:host:0", false, "has a bad port"},
        {"stun:host:65536", false, "has a bad port"},
        {"stun:host:", false, "has a bad port"},
        {"stun:host?transport=udp", false, "trailing text"},
        {"turn:host?transport=sctp", true, "trailing text"},
        {"turn:host:3478 junk", true, "trailing text"},
        {"turn:a,,turn:b", true, "empty entry"},
        {"turn:a,", true, "empty entry"},
        {"turn:a,turn:b,turn:c,turn:d,turn:e,turn:f,turn:g,turn:h,turn:i", true, "more than 8"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        err[0] = '\0';
        CHECK_INT(turn_uri_list_check(bad[i].list, bad[i].turn, "media.x_uris", err,
                                      sizeof(err)), -1);
        CHECK(strstr(err, bad[i].want) != NULL);
        CHECK(strncmp(err, "media.x_uris: ", 14) == 0);
        if (!strstr(err, bad[i].want))
            fprintf(stderr, "  case %zu: %s\n", i, err);
    }
}

static json_t *entry(json_t *o, size_t i)
{
    return json_array_get(json_object_get(o, "ice_servers"), i);
}

static void test_json(void)
{
    char err[256];
    turn_config cfg = {.stun_uris = "stun:127.0.0.2:3478", .turn_uris =
                       "turn:127.0.0.2:3478?transport=udp, turn:127.0.0.2:3478?transport=tcp",
                       .secret = SECRET, .ttl_s = 600};
    turn_t *t = turn_create(&cfg, err, sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    json_t *o = turn_ice_servers_json(t, 42, 1700000000 - 600);
    CHECK_INT(json_integer_value(json_object_get(o, "ttl")), 600);
    CHECK_INT(json_array_size(json_object_get(o, "ice_servers")), 2);
    json_t *stun = entry(o, 0), *turn = entry(o, 1);
    CHECK_STR(json_string_value(json_array_get(json_object_get(stun, "urls"), 0)),
              "stun:127.0.0.2:3478");
    CHECK(json_object_get(stun, "username") == NULL);
    CHECK_INT(json_array_size(json_object_get(turn, "urls")), 2);
    CHECK_STR(json_string_value(json_array_get(json_object_get(turn, "urls"), 1)),
              "turn:127.0.0.2:3478?transport=tcp");   /* trimmed */
    /* expiry = now + ttl: the same vector as in test_vectors */
    CHECK_STR(json_string_value(json_object_get(turn, "username")), "1700000000:42");
    CHECK_STR(json_string_value(json_object_get(turn, "credential")),
              "wNNDhf+CM7m4Q5x/+JOzphFiJ6Q=");
    json_decref(o);
    turn_destroy(t);

    /* no secret: no TURN entry (the STUN one stays) */
    cfg.secret = "";
    t = turn_create(&cfg, err, sizeof(err));
    o = turn_ice_servers_json(t, 42, 1);
    CHECK_INT(json_array_size(json_object_get(o, "ice_servers")), 1);
    CHECK(json_object_get(entry(o, 0), "credential") == NULL);
    json_decref(o);
    turn_destroy(t);

    /* nothing configured: an empty list and the default ttl */
    turn_config none = {0};
    t = turn_create(&none, err, sizeof(err));
    o = turn_ice_servers_json(t, 42, 1);
    CHECK_INT(json_array_size(json_object_get(o, "ice_servers")), 0);
    CHECK_INT(json_integer_value(json_object_get(o, "ttl")), 86400);
    json_decref(o);
    turn_destroy(t);

    /* bad URIs are refused at creation with the setting's name */
    turn_config badcfg = {.turn_uris = "turn:ok, stun:wrong", .secret = "s"};
    CHECK(turn_create(&badcfg, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "media.turn_uris") != NULL);
}

/* The handler on a real platform object, as platform.c calls it once the token checked out. */
static void test_platform(void)
{
    char dir[] = "/tmp/test_turn_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    platform_config pc = {.data_dir = dir, .password_kdf_cost = 4, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .turn_uris = "turn:127.0.0.2:3478",
                          .turn_secret = SECRET, .turn_ttl_s = 120};
    platform_t *p = platform_create(&pc);
    CHECK(p != NULL);
    if (p) {
        http_request http = {.method = "GET", .path = "/ice-servers", .body = "",
                             .remote_ip = "127.0.0.1"};
        api_req rq = {.p = p, .http = &http, .auth = {.user_id = 7}};
        api_resp rs = {0};
        int64_t before = (int64_t)time(NULL);
        CHECK_INT(turn_ice_servers(&rq, &rs), 0);
        int64_t after = (int64_t)time(NULL);
        CHECK_INT(rs.status, 200);
        json_t *turn = entry(rs.body, 0);
        const char *user = json_string_value(json_object_get(turn, "username"));
        long long expiry = 0;
        unsigned long long uid = 0;
        CHECK(user && sscanf(user, "%lld:%llu", &expiry, &uid) == 2);
        CHECK(expiry >= before + 120 && expiry <= after + 120);
        CHECK(uid == 7);
        char cred[TURN_CREDENTIAL_MAX];
        CHECK_INT(turn_credential((const uint8_t *)SECRET, strlen(SECRET), user ? user : "", cred,
                                  sizeof(cred)), 0);
        CHECK_STR(json_string_value(json_object_get(turn, "credential")), cred);
        CHECK_INT(json_integer_value(json_object_get(rs.body, "ttl")), 120);
        json_decref(rs.body);
        platform_destroy(p);
    }
    /* a bad list stops the platform from starting */
    pc.stun_uris = "turn:wrong";
    CHECK(platform_create(&pc) == NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

/* Every bad value is reported naming the setting; good ones load. */
static void test_config(void)
{
    char *env[] = {NULL};
    server_config cfg;
    char err[512];
    char *ok[] = {"parley", "--media.stun_uris=stun:s.example.org:3478",
                  "--media.turn_uris=turn:t.example.org?transport=udp", "--media.turn_secret=x",
                  "--media.turn_ttl=600"};
    CHECK_INT(config_load(&cfg, 5, ok, env, err, sizeof(err)), CONFIG_RUN);
    CHECK_STR(cfg.media_turn_uris, "turn:t.example.org?transport=udp");
    CHECK_INT(cfg.media_turn_ttl, 600);
    config_free(&cfg);
    CHECK_INT(config_load(&cfg, 1, ok, env, err, sizeof(err)), CONFIG_RUN);
    CHECK_INT(cfg.media_turn_ttl, 86400);
    CHECK_STR(cfg.media_stun_uris, "");
    config_free(&cfg);

    static const struct { const char *arg, *want; } bad[] = {
        {"--media.turn_uris=turn:x", "needs media.turn_secret"},
        {"--media.turn_ttl=10", "media.turn_ttl"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char *argv[] = {"parley", (char *)bad[i].arg};
        err[0] = '\0';
        CHECK_INT(config_load(&cfg, 2, argv, env, err, sizeof(err)), CONFIG_ERROR);
        CHECK(strstr(err, bad[i].want) != NULL);
        config_free(&cfg);
    }
    /* The URI lists' syntax is this module's: platform_config_check (api/settings.c) runs
     * this check after config_load, for --check-config and a start alike. */
    char *wrong_scheme[] = {"parley", "--media.stun_uris=turn:x", "--media.turn_uris=stun:x", "--media.turn_secret=x"};
    CHECK_INT(config_load(&cfg, 4, wrong_scheme, env, err, sizeof(err)), CONFIG_RUN);
    CHECK(turn_uri_list_check(cfg.media_stun_uris, false, "media.stun_uris", err, sizeof err) < 0);
    CHECK(strstr(err, "media.stun_uris") != NULL);
    CHECK(turn_uri_list_check(cfg.media_turn_uris, true, "media.turn_uris", err, sizeof err) < 0);
    CHECK(strstr(err, "media.turn_uris") != NULL);
    config_free(&cfg);
    /* the secret is masked in the dump */
    char *sec[] = {"parley", "--media.turn_secret=hunter2hunter2"};
    CHECK_INT(config_load(&cfg, 2, sec, env, err, sizeof(err)), CONFIG_RUN);
    static char dump[16384];
    config_dump(&cfg, dump, sizeof(dump));
    CHECK(strstr(dump, "hunter2") == NULL);
    CHECK(strstr(dump, "turn_secret = \"********\"") != NULL);
    config_free(&cfg);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    test_vectors();
    test_uris();
    test_json();
    test_platform();
    test_config();
    return check_summary("api-turn");
}
