/*
 * addr: bind-address parsing and client-address formatting for the MHD-based servers.
 */
#include "transport/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "transport/http.h"
#include "util/config.h"

int transport_parse_bind(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!ip || !*ip)
        ip = "0.0.0.0";
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        /* The unspecified address also takes IPv4 clients. */
        return IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    }
    return -1;
}

void transport_client_address(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)cap);
    }
}

void transport_mhd_log_format(char *line, size_t cap, const char *fmt, va_list ap)
{
    vsnprintf(line, cap, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
}

/* The listeners' own parse (any port will do): a bind address --check-config accepts is
 * one the listeners accept. */
static bool bind_address_ok(const char *value, char *why, size_t whycap)
{
    struct sockaddr_storage ss;
    if (transport_parse_bind(value, 1, &ss) >= 0)
        return true;
    snprintf(why, whycap, "\"%s\" is not an IP address to listen on (0.0.0.0 for every IPv4 address, :: for "
             "every address, 127.0.0.1 for this machine only)", value);
    return false;
}

bool transport_config_check(const struct server_config *cfg, char *err, size_t errcap)
{
    static const char *const binds[] = {"http.bind", "ws.bind", "admin.bind"};
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++)
        if (!config_check_setting(cfg, binds[i], bind_address_ok, err, errcap))
            return false;
    return true;
}
