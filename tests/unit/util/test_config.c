/* Unit tests of config: layering (defaults < file < env < flags), every error names its
 * setting, derived values, and the dump masks secrets. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "util/config.h"

static config_action load(server_config *cfg, char **argv, int argc, char **env, char *err)
{
    return config_load(cfg, argc, argv, env, err, 512);
}

static void test_defaults(void)
{
    server_config cfg;
    char err[512];
    char *argv[] = {"parley"};
    char *env[] = {NULL};
    CHECK_INT(load(&cfg, argv, 1, env, err), CONFIG_RUN);
    CHECK_INT(cfg.http_port, 8088);
    CHECK_INT(cfg.ws_port, 8188);
    CHECK_INT(cfg.admin_port, 7088);
    CHECK_STR(cfg.admin_bind, "127.0.0.1");
    CHECK(cfg.auth_required);
    CHECK_INT(cfg.media_rtp_port_min, 20000);
    CHECK_INT(cfg.media_rtp_port_max, 40000);
    CHECK_INT(cfg.session_timeout, 60);
    config_free(&cfg);
}

static void test_layers(void)
{
    char path[] = "/tmp/parley-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# comment\n[http]\nport = 9000\nthreads = 2\n[media]\nrtp_port_range = \"30000-30010\"\n"
                       "[ws]\nport = 9100\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char cfgarg[64];
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    server_config cfg;
    char err[512];
    char *argv[] = {"parley", cfgarg, "--ws.port=9200", "--general.log_level", "debug"};
    char *env[] = {"PARLEY_HTTP_PORT=9001", "PARLEY_WS_PORT=9101", "PARLEY_AUTH_REQUIRED=false", NULL};
    CHECK_INT(load(&cfg, argv, 5, env, err), CONFIG_RUN);
    CHECK_INT(cfg.http_port, 9001);   /* env beats file */
    CHECK_INT(cfg.http_threads, 2);   /* file beats default */
    CHECK_INT(cfg.ws_port, 9200);     /* flag beats env */
    CHECK(!cfg.auth_required);
    CHECK_STR(cfg.log_level, "debug");
    CHECK_INT(cfg.media_rtp_port_min, 30000);
    CHECK_INT(cfg.media_rtp_port_max, 30010);
    config_free(&cfg);
    unlink(path);
}

static void expect_error(char **argv, int argc, char **env, const char *needle)
{
    server_config cfg;
    char err[512] = "";
    CHECK_INT(load(&cfg, argv, argc, env, err), CONFIG_ERROR);
    if (!strstr(err, needle))
        fprintf(stderr, "error \"%s\" does not mention \"%s\"\n", err, needle);
    CHECK(strstr(err, needle) != NULL);
    config_free(&cfg);
}

static void test_errors(void)
{
    char *env[] = {NULL};
    char *a1[] = {"parley", "--http.port=70000"};
    expect_error(a1, 2, env, "http.port");
    char *a2[] = {"parley", "--http.nope=1"};
    expect_error(a2, 2, env, "http.nope");
    char *a3[] = {"parley", "--media.rtp_port_range=5-2"};
    expect_error(a3, 2, env, "media.rtp_port_range");
    char *a4[] = {"parley", "--auth.required=maybe"};
    expect_error(a4, 2, env, "auth.required");
    char *a5[] = {"parley"};
    char *e5[] = {"PARLEY_HTTP_PORT=abc", NULL};
    expect_error(a5, 1, e5, "PARLEY_HTTP_PORT");
    char *a6[] = {"parley", "--billing.payment_provider=webhook"};
    expect_error(a6, 2, env, "webhook_secret");
    char *a7[] = {"parley", "--config=/nonexistent/parley.conf"};
    expect_error(a7, 2, env, "/nonexistent/parley.conf");
    char *a8[] = {"parley", "stray"};
    expect_error(a8, 2, env, "stray");
    char *a9[] = {"parley", "--media.stun_server=host:notaport"};
    expect_error(a9, 2, env, "media.stun_server");
}

static void test_dump_masks_secrets(void)
{
    server_config cfg;
    char err[512];
    char *argv[] = {"parley", "--auth.jwt_secret=supersecretvalue", "--check-config"};
    char *env[] = {NULL};
    CHECK_INT(load(&cfg, argv, 3, env, err), CONFIG_CHECK);
    static char out[16384];
    config_dump(&cfg, out, sizeof out);
    CHECK(strstr(out, "supersecretvalue") == NULL);
    CHECK(strstr(out, "jwt_secret = \"********\"") != NULL);
    CHECK(strstr(out, "[media]") != NULL);
    config_free(&cfg);
}

static void test_host_port(void)
{
    char host[64];
    uint16_t port;
    CHECK(config_split_host_port("stun.example.org:19302", host, sizeof host, &port, 3478));
    CHECK_STR(host, "stun.example.org");
    CHECK_INT(port, 19302);
    CHECK(config_split_host_port("10.0.0.1", host, sizeof host, &port, 3478));
    CHECK_INT(port, 3478);
    CHECK(config_split_host_port("[::1]:5000", host, sizeof host, &port, 3478));
    CHECK_STR(host, "::1");
    CHECK_INT(port, 5000);
    CHECK(!config_split_host_port("host:0", host, sizeof host, &port, 3478));
    CHECK(!config_split_host_port("", host, sizeof host, &port, 3478));
}

int main(void)
{
    test_defaults();
    test_layers();
    test_errors();
    test_dump_masks_secrets();
    test_host_port();
    return check_summary("config");
}
