/*
 * config_checks: the checks of single setting values that util/config can judge by itself,
 * the parsers they share with the server (port range here, config_split_host_port declared
 * in config.h), and the edit distance used to suggest a setting for a misspelt name.
 * Internal to src/util (config.c's settings table points at these; the unit tests call them).
 *
 * Every check has the shape of config_value_check (config.h): true when the value is
 * acceptable, else false with the reason in why, worded to follow "<setting> (from
 * <source>): ". Pure functions of their arguments (check_data_dir also asks the file
 * system); any thread.
 */
#ifndef PARLEY_UTIL_CONFIG_CHECKS_H
#define PARLEY_UTIL_CONFIG_CHECKS_H

#include <stdbool.h>
#include <stddef.h>

/* "MIN-MAX" with 1 <= MIN <= MAX <= 65535. The parse the server uses, not only a check. */
bool config_parse_port_range(const char *value, int *min, int *max);

bool check_port_range(const char *value, char *why, size_t whycap);
/* error | warn | warning | info | debug | trace (util/log's own parser decides). */
bool check_log_level(const char *value, char *why, size_t whycap);
/* One IPv4 or IPv6 address, or empty. */
bool check_ip_or_empty(const char *value, char *why, size_t whycap);
/* Comma-separated IP addresses (blanks around items and empty items are ignored). */
bool check_ip_list(const char *value, char *why, size_t whycap);
/* host[:port] or [v6]:port, or empty (config_split_host_port). */
bool check_host_port_or_empty(const char *value, char *why, size_t whycap);
/* none | dev | webhook (empty means none and is normalised by config before checks). */
bool check_payment_provider(const char *value, char *why, size_t whycap);
/* A directory the server can write in, or a path it can create: the nearest existing
 * ancestor is a writable directory. */
bool check_data_dir(const char *value, char *why, size_t whycap);

/* Levenshtein distance between a and b (insert, delete, substitute: cost 1 each). Names
 * longer than 127 bytes compare as far apart (SIZE_MAX). */
size_t config_edit_distance(const char *a, const char *b);

#endif
