/*
 * scrypt password hashing: vectors computed independently (Python hashlib.scrypt), round
 * trips, wrong passwords, malformed and hostile stored strings, and the strength rules.
 */
#include <string.h>

#include "api/password.h"
#include "api/validate.h"
#include "check.h"

static const uint8_t salt[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void test_vectors(void)
{
    char out[PASSWORD_STORED_MAX];
    CHECK_INT(password_hash_with_salt("correct horse 9", 10, salt, out, sizeof(out)), 0);
    CHECK_STR(out, "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4");
    CHECK_INT(password_hash_with_salt("p\xc3\xa4ssw\xc3\xb6rd\xe2\x9c\x93" "1", 4, salt, out,
                                      sizeof(out)), 0);
    CHECK_STR(out, "scrypt$4$8$1$AAECAwQFBgcICQoLDA0ODw$GYxqHwsMwCsun9XeV_Se8Ecvl-6kJeKm0wswHT8Nzwg");
    CHECK_INT(password_verify("p\xc3\xa4ssw\xc3\xb6rd\xe2\x9c\x93" "1", out), 1);
}

static void test_roundtrip(void)
{
    char a[PASSWORD_STORED_MAX], b[PASSWORD_STORED_MAX];
    CHECK_INT(password_hash("s3cret-pass", 8, a, sizeof(a)), 0);
    CHECK_INT(password_hash("s3cret-pass", 8, b, sizeof(b)), 0);
    CHECK(strcmp(a, b) != 0);                 /* fresh salt each time */
    CHECK_INT(password_verify("s3cret-pass", a), 1);
    CHECK_INT(password_verify("s3cret-pass", b), 1);
    CHECK_INT(password_verify("s3cret-pasS", a), 0);
    CHECK_INT(password_verify("", a), 0);
    CHECK(!password_needs_rehash(a, 8));
    CHECK(password_needs_rehash(a, 9));
    CHECK_INT(password_hash("x", 0, a, sizeof(a)), -1);
    CHECK_INT(password_hash("x", 19, a, sizeof(a)), -1);
    CHECK_INT(password_hash("x", 4, a, 20), -1);
}

static void test_malformed(void)
{
    const char *bad[] = {
        "", "scrypt", "scrypt$", "bcrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA",
        "scrypt$10$8$1$AAECAwQFBgcICQoLDA0OD$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$40$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$10$999$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$19$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$10$9$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$10$8$3$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$10$8$0$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$-1$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4",
        "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4$",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        CHECK_INT(password_verify("correct horse 9", bad[i]), -1);
    CHECK_INT(password_verify("correct horse 9", NULL), -1);
    CHECK_INT(password_verify(NULL, "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw$B2s0S39ROQXzpRICkUKwLiyK4GTo_GpkzF-s1vVpYA4"), -1);
}

static void test_strength(void)
{
    CHECK_INT(validate_password("abcdefg1"), 0);
    CHECK_INT(validate_password("correct horse"), 0);
    CHECK_INT(validate_password("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c" "12"), 0);
    CHECK_INT(validate_password("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c"), -1); /* 6 chars */
    CHECK_INT(validate_password("abc\x01" "defg1"), -1);   /* control character */
    CHECK_INT(validate_password("abcdef1"), -1);          /* 7 chars */
    CHECK_INT(validate_password("abcdefgh"), -1);         /* letters only */
    CHECK_INT(validate_password("12345678"), -1);         /* no letter */
    CHECK_INT(validate_password("aaaaaaaaaa"), -1);
    CHECK_INT(validate_password(""), -1);
    CHECK_INT(validate_password(NULL), -1);
    char longpw[200];
    memset(longpw, 'a', sizeof(longpw));
    longpw[0] = '1';
    longpw[129] = '\0';
    CHECK_INT(validate_password(longpw), -1);
    longpw[128] = '\0';
    CHECK_INT(validate_password(longpw), 0);
}

int main(void)
{
    test_vectors();
    test_roundtrip();
    test_malformed();
    test_strength();
    return check_summary("api-password");
}
