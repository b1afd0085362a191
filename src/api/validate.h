/*
 * validate: the rules for user-supplied text in the platform API (pure functions).
 *
 *  - email: one '@', a non-empty local part of printable ASCII without spaces, a domain of
 *    LDH labels with at least one dot, total <= 254 bytes. Normalised to lower case.
 *  - password: 8..128 characters (<= 128 bytes), no control characters, characters from at
 *    least two classes (ASCII letters, ASCII digits, anything else), not one repeated
 *    character.
 *  - display name / bio / tag: valid UTF-8 (jansson guarantees it), no control characters,
 *    length limits in characters given by the caller.
 *  - device id: 1..128 of [A-Za-z0-9._:-].
 *  - avatar URL: "https://" or "http://" + printable ASCII without spaces, <= 512 bytes.
 *  - language: BCP-47-ish "xx" / "xxx" optionally followed by "-" subtags of 2..8 alnum.
 *  - uuid: 8-4-4-4-12 hex digits in any case (call ids, message and client ids); normalised
 *    to lower case so that a retry in another case is the same id.
 *
 * Each returns 0 when valid and -1 otherwise; the caller maps that to a 422 with its own
 * field name. Threads: any.
 */
#ifndef PARLEY_API_VALIDATE_H
#define PARLEY_API_VALIDATE_H

#include <stddef.h>

#define VALIDATE_EMAIL_MAX 254

int validate_email(const char *in, char *normalized, size_t cap);
int validate_password(const char *pw);
/* UTF-8 text of min_chars..max_chars code points with no C0/C1 control characters (newline
 * allowed when multiline). */
int validate_text(const char *s, size_t min_chars, size_t max_chars, int multiline);
int validate_device_id(const char *s);
int validate_url(const char *s);
int validate_language(const char *s);
#define VALIDATE_UUID_LEN 36
int validate_uuid(const char *in, char out[VALIDATE_UUID_LEN + 1]);

#endif
