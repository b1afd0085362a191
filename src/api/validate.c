/*
 * validate: input rules for the platform API. See validate.h.
 */
#include "api/validate.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

static int validate_domain(const char *d)
{
    size_t label = 0, dots = 0;
    char prev = '.';
    for (const char *p = d; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (label == 0 || prev == '-')
                return -1;
            dots++;
            label = 0;
        } else if (isalnum((unsigned char)c) || c == '-') {
            if (label == 0 && c == '-')
                return -1;
            if (++label > 63)
                return -1;
        } else {
            return -1;
        }
        prev = c;
    }
    if (label == 0 || prev == '-' || dots == 0)
        return -1;
    return 0;
}

int validate_email(const char *in, char *normalized, size_t cap)
{
    if (!in)
        return -1;
    size_t n = strlen(in);
    if (n < 3 || n > VALIDATE_EMAIL_MAX || n + 1 > cap)
        return -1;
    const char *at = strchr(in, '@');
    if (!at || at == in || strchr(at + 1, '@') || (size_t)(at - in) > 64)
        return -1;
    for (const char *p = in; p < at; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),:;<>[\\]", c))
            return -1;
    }
    if (in[0] == '.' || at[-1] == '.' || strstr(in, ".."))
        return -1;
    if (validate_domain(at + 1) != 0)
        return -1;
    for (size_t i = 0; i <= n; i++)
        normalized[i] = (char)tolower((unsigned char)in[i]);
    return 0;
}

int validate_password(const char *pw)
{
    if (!pw)
        return -1;
    size_t n = strlen(pw);
    if (n > 128 || validate_text(pw, 8, 128, 0) != 0)
        return -1;
    /* Classes: ASCII letter, ASCII digit, anything else (punctuation, space, non-ASCII). */
    int letter = 0, digit = 0, other = 0, same = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)pw[i];
        if (isalpha(c))
            letter = 1;
        else if (isdigit(c))
            digit = 1;
        else
            other = 1;
        if (pw[i] != pw[0])
            same = 0;
    }
    return (letter + digit + other >= 2 && !same) ? 0 : -1;
}

/* Decodes one UTF-8 sequence (already valid: jansson checked it); returns its length or -1. */
static int validate_utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len = (s[0] >= 0xf0) ? 4 : (s[0] >= 0xe0) ? 3 : (s[0] >= 0xc0) ? 2 : -1;
    if (len < 0)
        return -1;
    uint32_t v = s[0] & (0x3f >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return len;
}

int validate_text(const char *s, size_t min_chars, size_t max_chars, int multiline)
{
    if (!s)
        return -1;
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int l = validate_utf8_next(p, &cp);
        if (l < 0)
            return -1;
        if ((cp < 0x20 && !(multiline && (cp == '\n' || cp == '\t'))) ||
            (cp >= 0x7f && cp < 0xa0))
            return -1;
        p += l;
        if (++chars > max_chars)
            return -1;
    }
    return chars >= min_chars ? 0 : -1;
}

int validate_device_id(const char *s)
{
    if (!s)
        return -1;
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("._:-", c))
            return -1;
    }
    return 0;
}

int validate_url(const char *s)
{
    if (!s)
        return -1;
    size_t n = strlen(s), pre;
    if (strncmp(s, "https://", 8) == 0)
        pre = 8;
    else if (strncmp(s, "http://", 7) == 0)
        pre = 7;
    else
        return -1;
    if (n <= pre || n > 512)
        return -1;
    for (size_t i = pre; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\')
            return -1;
    }
    return 0;
}

int validate_language(const char *s)
{
    if (!s)
        return -1;
    size_t n = strlen(s), i = 0;
    while (i < n && islower((unsigned char)s[i]))
        i++;
    if (i < 2 || i > 3 || n > 35)
        return -1;
    while (i < n) {
        if (s[i] != '-')
            return -1;
        size_t j = ++i;
        while (i < n && isalnum((unsigned char)s[i]))
            i++;
        if (i - j < 2 || i - j > 8)
            return -1;
    }
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int validate_uuid(const char *in, char out[VALIDATE_UUID_LEN + 1])
{
    if (!in || strlen(in) != VALIDATE_UUID_LEN)
        return -1;
    for (size_t i = 0; i < VALIDATE_UUID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? in[i] != '-' : hex_value(in[i]) < 0)
            return -1;
        out[i] = dash ? '-' : "0123456789abcdef"[hex_value(in[i])];
    }
    out[VALIDATE_UUID_LEN] = '\0';
    return 0;
}
