/*
 * addr: address helpers shared by the HTTP and WebSocket servers (internal to src/transport).
 *
 * transport_parse_bind() turns a textual bind address and port into a sockaddr for
 * MHD_OPTION_SOCK_ADDR and returns the libmicrohttpd address-family flags to add (0 for
 * IPv4, MHD_USE_IPv6, or MHD_USE_DUAL_STACK for "::"), or -1 when the address is invalid.
 * transport_client_address() writes the client's address as text (IPv4-mapped IPv6
 * addresses in dotted form). Pure functions; any thread.
 */
#ifndef PARLEY_TRANSPORT_ADDR_H
#define PARLEY_TRANSPORT_ADDR_H

#include <microhttpd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

int transport_parse_bind(const char *ip, uint16_t port, struct sockaddr_storage *ss);
void transport_client_address(struct MHD_Connection *conn, char *out, size_t cap);
/* Formats one libmicrohttpd log message (its printf format and arguments) into line, without
 * the trailing newline, for the servers' MHD_OPTION_EXTERNAL_LOGGER callbacks. */
void transport_mhd_log_format(char *line, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
