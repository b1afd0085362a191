/* Unit tests of config: layering (defaults < file < env < flags), every error names its
 * setting, derived values, and the dump masks secrets; secrets read from files in every layer
 * (<key>_file, PARLEY_..._FILE, --section.key_file), warnings for a secret given as a flag
 * and for a world-readable secret file; the payment provider's default (none). */
#include <stdlib.h>
#include <sys/stat.h>
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

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_secret_files(void)
{
    char dir[] = "/tmp/parley-secrets-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char jwt[128], hook[128], turn[128], conf[128], loose[128];
    snprintf(jwt, sizeof jwt, "%s/jwt", dir);
    snprintf(hook, sizeof hook, "%s/hook", dir);
    snprintf(turn, sizeof turn, "%s/turn", dir);
    snprintf(conf, sizeof conf, "%s/parley.conf", dir);
    snprintf(loose, sizeof loose, "%s/loose", dir);
    write_file(jwt, "jwt from a file 0123456789abcdef\n", 0600);
    write_file(hook, "hook secret\r\n", 0600);
    write_file(turn, "turn secret no newline", 0640);
    write_file(loose, "world readable\n", 0644);
    char text[512];
    snprintf(text, sizeof text, "[media]\nturn_secret_file = %s\n", turn);
    write_file(conf, text, 0600);

    /* file layer, env layer, flag layer; one trailing newline (LF or CRLF) stripped */
    char cfgarg[160], envhook[200], flag[200];
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", conf);
    snprintf(envhook, sizeof envhook, "PARLEY_BILLING_WEBHOOK_SECRET_FILE=%s", hook);
    snprintf(flag, sizeof flag, "--auth.jwt_secret_file=%s", jwt);
    server_config cfg;
    char err[512] = "";
    char *argv[] = {"parley", cfgarg, flag, "--general.web_root=/"};   /* a directory wherever we run */
    char *env[] = {envhook, NULL};
    CHECK_INT(load(&cfg, argv, 4, env, err), CONFIG_RUN);
    CHECK_STR(cfg.auth_jwt_secret, "jwt from a file 0123456789abcdef");
    CHECK_STR(cfg.billing_webhook_secret, "hook secret");
    CHECK_STR(cfg.media_turn_secret, "turn secret no newline");
    CHECK_STR(cfg.warnings, "");                       /* no flag secret, no loose file */
    config_free(&cfg);

    /* later layers still win: a flag beats a file given in the environment */
    char envjwt[200];
    snprintf(envjwt, sizeof envjwt, "PARLEY_AUTH_JWT_SECRET_FILE=%s", jwt);
    char *a2[] = {"parley", "--auth.jwt_secret=from the flag"};
    char *e2[] = {envjwt, NULL};
    CHECK_INT(load(&cfg, a2, 2, e2, err), CONFIG_RUN);
    CHECK_STR(cfg.auth_jwt_secret, "from the flag");
    /* ... and a secret given as a flag is warned about */
    CHECK(strstr(cfg.warnings, "auth.jwt_secret is given on the command line") != NULL);
    CHECK(strstr(cfg.warnings, "/proc") != NULL);
    config_free(&cfg);

    /* --check-config sees the warning too; an empty flag value is not a secret */
    char *a3[] = {"parley", "--check-config", "--media.turn_pwd=hunter2", "--auth.jwt_secret="};
    CHECK_INT(load(&cfg, a3, 4, (char *[]){NULL}, err), CONFIG_CHECK);
    CHECK(strstr(cfg.warnings, "media.turn_pwd is given on the command line") != NULL);
    CHECK(strstr(cfg.warnings, "auth.jwt_secret") == NULL);
    config_free(&cfg);

    /* a world-readable secret file works, with a warning */
    char lflag[200];
    snprintf(lflag, sizeof lflag, "--auth.jwt_secret_file=%s", loose);
    char *a4[] = {"parley", lflag};
    CHECK_INT(load(&cfg, a4, 2, (char *[]){NULL}, err), CONFIG_RUN);
    CHECK_STR(cfg.auth_jwt_secret, "world readable");
    CHECK(strstr(cfg.warnings, "readable by every user") != NULL);
    CHECK(strstr(cfg.warnings, "0644") != NULL);
    config_free(&cfg);

    /* errors: missing file, _file of a setting that is not secret, both env forms */
    char *e5[] = {NULL};
    char *a5[] = {"parley", "--auth.jwt_secret_file=/nonexistent/jwt"};
    expect_error(a5, 2, e5, "auth.jwt_secret_file");
    char *a6[] = {"parley", "--http.port_file=/etc/hostname"};
    expect_error(a6, 2, e5, "http.port_file");
    char *a7[] = {"parley"};
    char *e7[] = {"PARLEY_AUTH_JWT_SECRET=x", envjwt, NULL};
    expect_error(a7, 1, e7, "PARLEY_AUTH_JWT_SECRET_FILE");
    char *a8[] = {"parley", "--auth.jwt_secret_file", dir};
    expect_error(a8, 3, e5, "not a regular file");

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

static void test_payment_provider(void)
{
    server_config cfg;
    char err[512] = "";
    char *env[] = {NULL};
    char *a1[] = {"parley"};
    CHECK_INT(load(&cfg, a1, 1, env, err), CONFIG_RUN);
    CHECK_STR(cfg.billing_payment_provider, "none");   /* no default that completes purchases */
    CHECK_INT(cfg.auth_login_pair_per_min, 5);
    CHECK_INT(cfg.auth_login_account_per_hour, 20);
    config_free(&cfg);
    char *a2[] = {"parley", "--billing.payment_provider=dev"};
    CHECK_INT(load(&cfg, a2, 2, env, err), CONFIG_RUN);
    CHECK_STR(cfg.billing_payment_provider, "dev");
    config_free(&cfg);
    char *a3[] = {"parley", "--billing.payment_provider="};
    CHECK_INT(load(&cfg, a3, 2, env, err), CONFIG_RUN);
    CHECK_STR(cfg.billing_payment_provider, "none");
    config_free(&cfg);
    char *a4[] = {"parley", "--billing.payment_provider=stripe"};
    expect_error(a4, 2, env, "billing.payment_provider");
}

int main(void)
{
    test_defaults();
    test_secret_files();
    test_payment_provider();
    test_layers();
    test_errors();
    test_dump_masks_secrets();
    test_host_port();
    return check_summary("config");
}
