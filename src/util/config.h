/*
 * config: every server setting, from four layers in increasing precedence:
 *   built-in defaults < config file (--config FILE, INI "[section]" + "key = value")
 *   < environment (PARLEY_<SECTION>_<KEY>) < command-line flags (--section.key=value).
 *
 * The settings table in config.c is the single list of what exists: name, default, kind,
 * whether it is secret (masked by config_dump), the check of its value and its help text
 * (printed by --help).
 *
 * Validation: config_load checks everything util/ can judge (integers, booleans, media
 * addresses, the port range, the log level, the data directory...). A setting whose syntax
 * belongs to a module above util/ (the credit packages' JSON, the ICE server URIs, the
 * listeners' bind addresses) is checked by that module's own function through
 * config_check_setting, called by main.c right after config_load, so that
 * --check-config and a real start run the very same checks and print the same message.
 * Every error names the setting and where its value came from, in one form:
 *     "<section>.<key> (from <source>): <why>"
 * where <source> is "flag --section.key", "env PARLEY_SECTION_KEY", "file PATH:LINE" or
 * "default". A PARLEY_* environment variable that names no setting is a warning, with the
 * closest setting's variable suggested.
 *
 * Ownership: server_config owns its strings; config_free releases them. Single-threaded use
 * at start (main thread); the loaded struct is read-only afterwards.
 */
#ifndef PARLEY_UTIL_CONFIG_H
#define PARLEY_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct server_config {
    /* [general] */
    char *data_dir;
    char *log_level;
    bool log_json;
    int loops;
    bool loop_epoll;
    int loop_batch_us;
    char *web_root;
    int session_timeout;
    /* [http] */
    char *http_bind;
    int http_port;
    int http_max_body;
    int http_threads;
    int http_max_connections_per_ip;
    int http_request_timeout_s;
    /* [ws] */
    char *ws_bind;
    int ws_port;
    int ws_max_message;
    int ws_max_connections_per_ip;
    int ws_max_messages_per_s;
    int ws_idle_timeout_s;
    int ws_handshake_timeout_s;
    int ws_max_buffered_total;
    /* [admin] */
    char *admin_bind;
    int admin_port;
    char *admin_allowed_hosts;
    /* [limits] (core/limits.h) */
    int limits_sessions_per_user;
    int limits_handles_per_session;
    int limits_peers_per_user;
    int limits_max_peers;       /* 0 = derived at start (main.c) */
    int limits_fd_reserve;
    /* [media] */
    char *media_bind_ips;
    bool media_allow_loopback;
    bool media_ipv6;
    char *media_rtp_port_range;
    int media_rtp_port_min, media_rtp_port_max; /* derived from rtp_port_range */
    char *media_stun_server;
    char *media_turn_server;
    char *media_turn_user;
    char *media_turn_pwd;
    char *media_nat_1_1_ip;
    bool media_consent_freshness;
    bool media_ice_lite;
    int media_slowlink_threshold;
    char *media_stun_uris;      /* for clients (GET /api/v1/ice-servers), not libnice */
    char *media_turn_uris;
    char *media_turn_secret;
    int media_turn_ttl;
    /* [auth] */
    bool auth_required;
    char *auth_jwt_secret;
    int auth_access_ttl;
    int auth_refresh_ttl;
    int auth_kdf_cost;
    int auth_rate_limit_per_min;
    int auth_login_pair_per_min;
    int auth_login_account_per_hour;
    /* [billing] */
    int billing_platform_fee_bps;
    char *billing_payment_provider;
    char *billing_webhook_secret;
    int billing_webhook_window;
    int billing_minute_ms;
    int billing_low_balance_ms;
    int billing_recovery_grace_s;
    char *billing_credit_packages;
    /* [calls] (handed to the calls plugin as its config section) */
    int calls_ring_timeout_s;
    int calls_reconnect_grace_s;
    /* [chat] (the platform's chat store: api/chat_ops.c) */
    int chat_rate_per_s;
    int chat_burst;
    /* the chat plugin's per-device bound on data-channel requests (plugins/chat) */
    int chat_device_requests_per_s;
    int chat_device_burst;
    /* [push] (the outbound push service: push/service.h) */
    char *push_fcm_service_account;
    char *push_fcm_endpoint;
    char *push_fcm_token_endpoint;
    char *push_ca_file;
    bool push_private_bodies;
    int push_queue_size;
    int push_max_in_flight;
    int push_request_timeout_ms;
    int push_chat_ttl_s;
    char *push_vapid_subject;
    /* [store] (store/store.h, applied by the platform) */
    int store_group_window_us;
    /* Not settings: what config_load found worth a warning (a secret given as a flag, a
     * secret file readable by every user), one per line, "" if none. Logged at start and
     * printed by --check-config. */
    char *warnings;
    /* Not settings: where each setting's value came from (see config_source). Owned. */
    char **sources;
} server_config;

typedef enum config_action {
    CONFIG_RUN = 0,
    CONFIG_HELP,         /* --help: usage printed, exit 0 */
    CONFIG_CHECK,        /* --check-config: caller prints config_dump, exit 0 */
    CONFIG_VERSION,
    CONFIG_ERROR,        /* err holds the reason, exit 2 */
} config_action;

/* Fills cfg from all layers. envp is the process environment (NULL-terminated).
 * Every secret setting (media.turn_pwd, media.turn_secret, auth.jwt_secret,
 * billing.webhook_secret, ...) can also be read from a file in every layer: <key>_file in the
 * config file, PARLEY_<SECTION>_<KEY>_FILE, --section.key_file=PATH. The file is read here,
 * one trailing newline (\n or \r\n) stripped. */
config_action config_load(server_config *cfg, int argc, char **argv, char **envp, char *err,
                          size_t errcap);
void config_free(server_config *cfg);
/* Prints the effective settings as INI with secrets masked, into out (NUL-terminated). */
void config_dump(const server_config *cfg, char *out, size_t cap);
/* The settings of one section as a JSON object text {"key":value,...} for a plugin's init,
 * secrets left out. malloc'd; "{}" for an unknown section. */
char *config_section_json(const server_config *cfg, const char *section);
/* Prints --help text to stdout. */
void config_print_help(const char *argv0);

/* Where the named setting ("section.key") got its value: "flag --section.key",
 * "env PARLEY_SECTION_KEY", "file PATH:LINE" or "default" (also for an unknown name).
 * Valid until config_free. */
const char *config_source(const server_config *cfg, const char *name);

/* A check of one setting's value, written by the module that uses the value: true when
 * value is acceptable, else false with the reason in why (without the setting's name or
 * source: the caller adds them). Must not print secret values. */
typedef bool (*config_value_check)(const char *value, char *why, size_t whycap);

/* Runs check on the current value of the setting name ("section.key"; integers and booleans
 * are given as text). On failure err holds "<name> (from <source>): <why>" and the result is
 * false. An unknown name is a failure too (a programming error, reported the same way). */
bool config_check_setting(const server_config *cfg, const char *name, config_value_check check, char *err,
                          size_t errcap);

/* The URL a browser on this machine opens for the web app: http://HOST:PORT/ with HOST the
 * http.bind address, or 127.0.0.1 when it binds every address (0.0.0.0, ::, empty). */
void config_web_url(const server_config *cfg, char *out, size_t cap);

/* Splits "host:port" (port default given) for STUN/TURN settings; false if malformed. */
bool config_split_host_port(const char *in, char *host, size_t hostcap, uint16_t *port,
                            uint16_t default_port);

#endif
