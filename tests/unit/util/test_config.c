/* Unit tests of config: layering (defaults < file < env < flags), every error names its
 * setting and its source in one form ("<setting> (from flag --x | env PARLEY_X | file
 * PATH:LINE)"), derived values, and the dump masks secrets; secrets read from files in every
 * layer (<key>_file, PARLEY_..._FILE, --section.key_file), warnings for a secret given as a
 * flag and for a world-readable secret file; the payment provider's default (none); the
 * modules' checks run after config_load (what --check-config and a start both run);
 * unterminated quotes; unknown PARLEY_* variables warned about with a suggestion; the sample
 * conf/parley.conf and a full valid config pass; the web app's URL; store.group_window_us
 * (default = STORE_GROUP_WINDOW_US, 0 allowed, bounded). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/password.h"
#include "api/platform.h"
#include "check.h"
#include "store/store.h"
#include "transport/http.h"
#include "util/config.h"
#include "util/config_checks.h"

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
    CHECK_INT(cfg.store_group_window_us, STORE_GROUP_WINDOW_US);   /* one default, two places */
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

static void test_store_group_window(void)
{
    server_config cfg;
    char err[512];
    char *env[] = {"PARLEY_STORE_GROUP_WINDOW_US=0", NULL};
    char *argv[] = {"parley"};
    CHECK_INT(load(&cfg, argv, 1, env, err), CONFIG_RUN);
    CHECK_INT(cfg.store_group_window_us, 0);
    config_free(&cfg);
    char *most[] = {"parley", "--store.group_window_us=100000"};
    char *none[] = {NULL};
    CHECK_INT(load(&cfg, most, 2, none, err), CONFIG_RUN);
    CHECK_INT(cfg.store_group_window_us, 100000);
    config_free(&cfg);
    char *over[] = {"parley", "--store.group_window_us=100001"};
    expect_error(over, 2, none, "store.group_window_us (from flag --store.group_window_us): \"100001\" is not an "
                 "integer in [0, 100000]");
    char *negative[] = {"parley", "--store.group_window_us=-1"};
    expect_error(negative, 2, none, "store.group_window_us");
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


/* Writes text to a new temporary file; its path in path (cap >= 32). */
static void temp_file(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/parley-conf-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

/* config_load fails with exactly want. */
static void expect_exact(char **argv, int argc, char **env, const char *want)
{
    server_config cfg;
    char err[512] = "";
    CHECK_INT(load(&cfg, argv, argc, env, err), CONFIG_ERROR);
    CHECK_STR(err, want);
    config_free(&cfg);
}

/* Item: every setting error names its source, including rtp_port_range and log_level. */
static void test_error_sources(void)
{
    char *none[] = {NULL};
    char *a1[] = {"parley", "--media.rtp_port_range=5-2"};
    expect_exact(a1, 2, none, "media.rtp_port_range (from flag --media.rtp_port_range): \"5-2\" is not MIN-MAX "
                 "with 1 <= MIN <= MAX <= 65535");
    char *a2[] = {"parley", "--media.rtp_port_range", "70000-70001"};   /* the two-argument form */
    expect_exact(a2, 3, none, "media.rtp_port_range (from flag --media.rtp_port_range): \"70000-70001\" is not "
                 "MIN-MAX with 1 <= MIN <= MAX <= 65535");
    char *a0[] = {"parley"};
    char *e3[] = {"PARLEY_MEDIA_RTP_PORT_RANGE=abc", NULL};
    expect_exact(a0, 1, e3, "media.rtp_port_range (from env PARLEY_MEDIA_RTP_PORT_RANGE): \"abc\" is not "
                 "MIN-MAX with 1 <= MIN <= MAX <= 65535");
    char *e4[] = {"PARLEY_GENERAL_LOG_LEVEL=loud", NULL};
    expect_exact(a0, 1, e4, "general.log_level (from env PARLEY_GENERAL_LOG_LEVEL): \"loud\" is not error, warn, "
                 "info, debug or trace");
    char *a5[] = {"parley", "--media.nat_1_1_ip=notanip"};
    expect_exact(a5, 2, none, "media.nat_1_1_ip (from flag --media.nat_1_1_ip): \"notanip\" is not an IP address "
                 "(IPv4 like 203.0.113.10 or IPv6 like 2001:db8::1)");
    char *a6[] = {"parley", "--media.bind_ips=10.0.0.1, eth0"};
    expect_error(a6, 2, none, "media.bind_ips (from flag --media.bind_ips): \" eth0\" is not an IP address");
    char *e7[] = {"PARLEY_HTTP_PORT=abc", NULL};
    expect_exact(a0, 1, e7, "http.port (from env PARLEY_HTTP_PORT): \"abc\" is not an integer in [1, 65535]");
    char *e8[] = {"PARLEY_BILLING_PAYMENT_PROVIDER=webhook", NULL};
    expect_exact(a0, 1, e8, "billing.payment_provider (from env PARLEY_BILLING_PAYMENT_PROVIDER): webhook needs "
                 "billing.webhook_secret (or billing.webhook_secret_file)");
    char *e9[] = {"PARLEY_AUTH_JWT_SECRET_FILE=/nonexistent/jwt", NULL};
    expect_exact(a0, 1, e9, "auth.jwt_secret_file (from env PARLEY_AUTH_JWT_SECRET_FILE): /nonexistent/jwt: "
                 "No such file or directory");
    char *a10[] = {"parley", "--media.stun_server=host:notaport"};
    expect_exact(a10, 2, none, "media.stun_server (from flag --media.stun_server): \"host:notaport\" is not host:port");
    /* the table's ceiling is the password module's: beyond it the platform would hash at 15 */
    char kdf[64];
    snprintf(kdf, sizeof kdf, "PARLEY_AUTH_KDF_COST=%d", PASSWORD_LN_MAX + 1);
    char *e10[] = {kdf, NULL};
    expect_exact(a0, 1, e10, "auth.kdf_cost (from env PARLEY_AUTH_KDF_COST): \"19\" is not an integer in [10, 18]");
    snprintf(kdf, sizeof kdf, "PARLEY_AUTH_KDF_COST=%d", PASSWORD_LN_MAX);
    server_config ok;
    char okerr[512];
    CHECK_INT(load(&ok, a0, 1, e10, okerr), CONFIG_RUN);
    config_free(&ok);
    char *a11[] = {"parley", "--general.data_dir=/etc/hostname/data"};
    expect_error(a11, 2, none, "general.data_dir (from flag --general.data_dir): /etc/hostname");

    /* the file layer: file PATH:LINE, with the line of the value that is wrong */
    char path[64], want[256];
    temp_file(path, sizeof path, "[general]\nlog_level = info\n\n[media]\nrtp_port_range = 9-1\n");
    char cfgarg[96];
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    char *a12[] = {"parley", cfgarg};
    snprintf(want, sizeof want, "media.rtp_port_range (from file %s:5): \"9-1\" is not MIN-MAX with 1 <= MIN <= "
             "MAX <= 65535", path);
    expect_exact(a12, 2, none, want);
    /* a later layer that fixes the value wins, and names itself when it is the wrong one */
    char *a13[] = {"parley", cfgarg, "--media.rtp_port_range=1000-2000"};
    server_config cfg;
    char err[512];
    CHECK_INT(load(&cfg, a13, 3, none, err), CONFIG_RUN);
    CHECK_STR(config_source(&cfg, "media.rtp_port_range"), "flag --media.rtp_port_range");
    char fromfile[96];
    snprintf(fromfile, sizeof fromfile, "file %s:2", path);
    CHECK_STR(config_source(&cfg, "general.log_level"), fromfile);
    CHECK_STR(config_source(&cfg, "http.port"), "default");
    config_free(&cfg);
    unlink(path);
    temp_file(path, sizeof path, "[general]\nlog_level = \"chatty\"\n");
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    snprintf(want, sizeof want, "general.log_level (from file %s:2): \"chatty\" is not error, warn, info, debug "
             "or trace", path);
    expect_exact(a12, 2, none, want);
    unlink(path);
    temp_file(path, sizeof path, "[http]\nport = 0\n");
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    snprintf(want, sizeof want, "http.port (from file %s:2): \"0\" is not an integer in [1, 65535]", path);
    expect_exact(a12, 2, none, want);
    unlink(path);
}

/* The modules' checks (what main.c runs after config_load, for --check-config and a start):
 * config_load takes these values, the modules refuse them naming the setting and source. */
static void expect_module_error(char **argv, int argc, char **env, const char *want)
{
    server_config cfg;
    char err[512] = "";
    CHECK_INT(load(&cfg, argv, argc, env, err), CONFIG_CHECK);
    bool ok = transport_config_check(&cfg, err, sizeof err) && platform_config_check(&cfg, err, sizeof err);
    CHECK(!ok);
    if (strncmp(err, want, strlen(want)) != 0)
        fprintf(stderr, "error \"%s\" does not start with \"%s\"\n", err, want);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    config_free(&cfg);
}

static void test_module_checks(void)
{
    char *none[] = {NULL};
    char *a1[] = {"parley", "--check-config", "--billing.credit_packages=notjson"};
    expect_module_error(a1, 3, none, "billing.credit_packages (from flag --billing.credit_packages): not JSON (");
    char *a2[] = {"parley", "--check-config"};
    char *e2[] = {"PARLEY_BILLING_CREDIT_PACKAGES=[]", NULL};
    expect_module_error(a2, 2, e2, "billing.credit_packages (from env PARLEY_BILLING_CREDIT_PACKAGES): must be a "
                        "non-empty JSON array");
    char *e3[] = {"PARLEY_BILLING_CREDIT_PACKAGES=[{\"id\":\"a\",\"credits\":1,\"price_cents\":1,\"currency\":\"USD\"},"
                  "{\"id\":\"a\",\"credits\":2,\"price_cents\":2,\"currency\":\"USD\"}]", NULL};
    expect_module_error(a2, 2, e3, "billing.credit_packages (from env PARLEY_BILLING_CREDIT_PACKAGES): duplicate id a");
    char *a4[] = {"parley", "--check-config", "--media.stun_uris=turn:x"};
    expect_module_error(a4, 3, none, "media.stun_uris (from flag --media.stun_uris): \"turn:x\"");
    char *e5[] = {"PARLEY_ADMIN_BIND=localhost", NULL};
    expect_module_error(a2, 2, e5, "admin.bind (from env PARLEY_ADMIN_BIND): \"localhost\" is not an IP address");
    char long_secret[300], flag[320];
    memset(long_secret, 'k', 200);
    long_secret[200] = '\0';
    snprintf(flag, sizeof flag, "--auth.jwt_secret=%s", long_secret);
    char *a6[] = {"parley", "--check-config", flag};
    expect_module_error(a6, 3, none, "auth.jwt_secret (from flag --auth.jwt_secret): longer than 128 bytes");

    char path[64], cfgarg[96], want[200];
    temp_file(path, sizeof path, "[billing]\n# the packages\ncredit_packages = {\"id\":1}\n");
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    char *a7[] = {"parley", "--check-config", cfgarg};
    snprintf(want, sizeof want, "billing.credit_packages (from file %s:3): must be a non-empty JSON array", path);
    expect_module_error(a7, 3, none, want);
    unlink(path);
}

/* Item: an unterminated quote is an error with file:line; unknown keys get a suggestion. */
static void test_file_syntax(void)
{
    char *none[] = {NULL};
    char path[64], cfgarg[96], want[200];
    temp_file(path, sizeof path, "[media]\n# public address\nnat_1_1_ip = \"203.0.113.10\nipv6 = true\n");
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    char *argv[] = {"parley", cfgarg};
    snprintf(want, sizeof want, "file %s:3: unterminated quote in the value of media.nat_1_1_ip", path);
    expect_exact(argv, 2, none, want);
    unlink(path);
    temp_file(path, sizeof path, "[general]\nlog_level = \"\n");
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    snprintf(want, sizeof want, "file %s:2: unterminated quote in the value of general.log_level", path);
    expect_exact(argv, 2, none, want);
    unlink(path);
    temp_file(path, sizeof path, "[media]\nrtp_range = 1-2\n");
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    snprintf(want, sizeof want, "file %s:2: unknown setting media.rtp_range (did you mean media.rtp_port_range?)",
             path);
    expect_exact(argv, 2, none, want);
    unlink(path);
    char *a2[] = {"parley", "--media.rtp_range=1-2"};
    expect_exact(a2, 2, none, "unknown setting media.rtp_range (did you mean media.rtp_port_range?) (try --help)");
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* Item: a PARLEY_* variable that names no setting is warned about, with the closest name. */
static void test_unknown_env(void)
{
    server_config cfg;
    char err[512] = "";
    char *argv[] = {"parley", "--check-config", "--general.web_root=/"};
    char *env[] = {"PARLEY_MEDIA_RTP_RANGE=20000-20100", "PARLEY_HTTP_PORT_FILE=/tmp/x", "PARLEY_ZQXJKVWYZQXJKVWY=1",
                   /* not settings, read by the scripts that start servers: no warning */
                   "PARLEY_API_TRACE=/tmp/trace", "PARLEY_BIN=/bin/true", "PARLEY_CONFIG_UNUSED_BY_NAME=1",
                   /* settings and a secret's _FILE form: no warning */
                   "PARLEY_HTTP_PORT=9000", "HOME=/root", "PARLEY=1", NULL};
    CHECK_INT(load(&cfg, argv, 3, env, err), CONFIG_CHECK);
    CHECK(has_line(cfg.warnings, "environment variable PARLEY_MEDIA_RTP_RANGE names no setting (did you mean "
                   "PARLEY_MEDIA_RTP_PORT_RANGE?)"));
    CHECK(has_line(cfg.warnings, "environment variable PARLEY_HTTP_PORT_FILE names no setting (did you mean "
                   "PARLEY_HTTP_PORT?)"));
    CHECK(has_line(cfg.warnings, "environment variable PARLEY_ZQXJKVWYZQXJKVWY names no setting (parley --help "
                   "lists them)"));
    CHECK(strstr(cfg.warnings, "PARLEY_API_TRACE") == NULL);
    CHECK(strstr(cfg.warnings, "PARLEY_BIN") == NULL);
    CHECK(strstr(cfg.warnings, "PARLEY_HTTP_PORT ") == NULL);
    CHECK(strstr(cfg.warnings, "HOME") == NULL);
    CHECK(strstr(cfg.warnings, "PARLEY_CONFIG_UNUSED_BY_NAME") != NULL);   /* only exact names are exempt */
    CHECK_INT(cfg.http_port, 9000);
    config_free(&cfg);

    char dir[] = "/tmp/parley-env-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char jwt[96], envjwt[128];
    snprintf(jwt, sizeof jwt, "%s/jwt", dir);
    write_file(jwt, "a secret from a file 0123456789abcdef\n", 0600);
    snprintf(envjwt, sizeof envjwt, "PARLEY_AUTH_JWT_SECRET_FILE=%s", jwt);
    char *env2[] = {envjwt, NULL};
    CHECK_INT(load(&cfg, argv, 3, env2, err), CONFIG_CHECK);
    CHECK_STR(cfg.warnings, "");
    config_free(&cfg);
    unlink(jwt);
    rmdir(dir);
}

/* Valid configurations still pass, modules' checks included: a full file and the sample. */
static void expect_valid(char **argv, int argc, char **env)
{
    server_config cfg;
    char err[512] = "";
    CHECK_INT(load(&cfg, argv, argc, env, err), CONFIG_CHECK);
    CHECK_STR(err, "");
    CHECK(transport_config_check(&cfg, err, sizeof err));
    CHECK(platform_config_check(&cfg, err, sizeof err));
    CHECK_STR(err, "");
    config_free(&cfg);
}

static void test_valid_configs(void)
{
    char big[9000] = "[billing]\ncredit_packages = \"[";
    for (int i = 0; i < 80; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s{\"id\":\"p%d\",\"credits\":%d,\"price_cents\":%d,"
                 "\"currency\":\"EUR\"}", i ? "," : "", i, i + 1, i * 10);
    snprintf(big + strlen(big), sizeof big - strlen(big), "]\"\n[media]\nnat_1_1_ip = 2001:db8::7\n"
             "bind_ips = 10.0.0.1, ::1,\nrtp_port_range = \"30000-30100\"\nstun_uris = stun:stun.example.org:3478\n"
             "turn_server = 192.0.2.1:3478\n[http]\nbind = \"::\"\n[general]\nlog_level = warning\ndata_dir = "
             "/tmp/parley-test-data-never-created/a/b\nweb_root = /\n");
    CHECK(strlen(big) > 4096);   /* longer than the old line buffer */
    char path[64], cfgarg[96];
    temp_file(path, sizeof path, big);
    snprintf(cfgarg, sizeof cfgarg, "--config=%s", path);
    char *argv[] = {"parley", "--check-config", cfgarg, "--ws.bind=127.0.0.1"};
    char *env[] = {"PARLEY_ADMIN_BIND=::1", "PARLEY_MEDIA_TURN_URIS=turn:192.0.2.1:3478?transport=udp",
                   "PARLEY_MEDIA_TURN_SECRET=shared", NULL};
    expect_valid(argv, 4, env);
    unlink(path);

    char sample[512];
    snprintf(sample, sizeof sample, "--config=%s/conf/parley.conf", PARLEY_SOURCE_ROOT);
    char *a2[] = {"parley", "--check-config", sample};
    char *none[] = {NULL};
    expect_valid(a2, 3, none);
}

static void test_web_url(void)
{
    static const struct { const char *bind; const char *want; } cases[] = {
        {"0.0.0.0", "http://127.0.0.1:8088/"}, {"::", "http://127.0.0.1:8088/"}, {"", "http://127.0.0.1:8088/"},
        {"192.0.2.5", "http://192.0.2.5:8088/"}, {"::1", "http://[::1]:8088/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server_config cfg = {.http_bind = (char *)cases[i].bind, .http_port = 8088};
        char url[128];
        config_web_url(&cfg, url, sizeof url);
        CHECK_STR(url, cases[i].want);
    }
}

static void test_edit_distance(void)
{
    CHECK_INT(config_edit_distance("", ""), 0);
    CHECK_INT(config_edit_distance("abc", ""), 3);
    CHECK_INT(config_edit_distance("kitten", "sitting"), 3);
    CHECK_INT(config_edit_distance("PARLEY_MEDIA_RTP_RANGE", "PARLEY_MEDIA_RTP_PORT_RANGE"), 5);
    CHECK(config_edit_distance("a", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") == SIZE_MAX);
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
    test_error_sources();
    test_module_checks();
    test_file_syntax();
    test_unknown_env();
    test_valid_configs();
    test_web_url();
    test_edit_distance();
    test_store_group_window();
    return check_summary("config");
}
