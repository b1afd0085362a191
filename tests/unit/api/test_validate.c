/*
 * Validation tables (email, text, device id, URL, language) and the JSON body helpers'
 * error mapping (400 / 422 and codes).
 */
#include <string.h>

#include "api/apijson.h"
#include "api/validate.h"
#include "check.h"

static void test_email(void)
{
    char out[VALIDATE_EMAIL_MAX + 1];
    struct { const char *in; const char *norm; } good[] = {
        {"a@b.co", "a@b.co"}, {"Alice.Smith+tag@Example.COM", "alice.smith+tag@example.com"},
        {"o'hara@x-y.example.org", "o'hara@x-y.example.org"}, {"1@2.io", "1@2.io"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        CHECK_INT(validate_email(good[i].in, out, sizeof(out)), 0);
        CHECK_STR(out, good[i].norm);
    }
    const char *bad[] = {
        "", "a", "@b.co", "a@", "a@b", "a@@b.co", "a@b@c.co", "a b@c.co", "a@b .co", "a@-b.co",
        "a@b-.co", "a@b..co", ".a@b.co", "a.@b.co", "a..b@c.co", "a@b.co.", "a\"b@c.co",
        "a@b_c.co", "\xc3\xa4@b.co", "a@\xc3\xa4.co", "a\n@b.co", "a;drop@b.co",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        int rc = validate_email(bad[i], out, sizeof(out));
        if (rc != -1)
            fprintf(stderr, "accepted bad email %zu\n", i);
        CHECK_INT(rc, -1);
    }
    char longmail[300];
    memset(longmail, 'a', sizeof(longmail));
    memcpy(longmail + 60, "@", 1);
    memcpy(longmail + 250, ".com", 5);
    CHECK_INT(validate_email(longmail, out, sizeof(out)), -1);   /* 254 bytes max */
    CHECK_INT(validate_email(NULL, out, sizeof(out)), -1);
}

static void test_text(void)
{
    CHECK_INT(validate_text("Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 1, 8, 0), 0);
    CHECK_INT(validate_text("Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 1, 7, 0), -1);
    CHECK_INT(validate_text("", 1, 10, 0), -1);
    CHECK_INT(validate_text("", 0, 10, 0), 0);
    CHECK_INT(validate_text("a\nb", 1, 10, 0), -1);
    CHECK_INT(validate_text("a\nb", 1, 10, 1), 0);
    CHECK_INT(validate_text("a\x01" "b", 1, 10, 1), -1);
    CHECK_INT(validate_text("a\xc2\x85" "b", 1, 10, 1), -1);   /* C1 control NEL */
    CHECK_INT(validate_text("Robert'); DROP TABLE users;--", 1, 64, 0), 0);
}

static void test_ids_urls_languages(void)
{
    CHECK_INT(validate_device_id("phone-1.a:b_c"), 0);
    CHECK_INT(validate_device_id(""), -1);
    CHECK_INT(validate_device_id("a b"), -1);
    CHECK_INT(validate_device_id("a/b"), -1);
    char id[200];
    memset(id, 'x', sizeof(id));
    id[129] = '\0';
    CHECK_INT(validate_device_id(id), -1);
    id[128] = '\0';
    CHECK_INT(validate_device_id(id), 0);

    CHECK_INT(validate_url("https://cdn.example.com/a.png?x=1"), 0);
    CHECK_INT(validate_url("http://x"), 0);
    CHECK_INT(validate_url("https://"), -1);
    CHECK_INT(validate_url("javascript:alert(1)"), -1);
    CHECK_INT(validate_url("https://a b"), -1);
    CHECK_INT(validate_url("https://a\"onerror=x"), -1);

    const char *good[] = {"en", "pt-BR", "zh-Hant-TW", "yue"};
    for (size_t i = 0; i < 4; i++)
        CHECK_INT(validate_language(good[i]), 0);
    const char *bad[] = {"", "e", "EN", "engl", "en-", "en-x", "en_US", "en--US", "en-123456789"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        CHECK_INT(validate_language(bad[i]), -1);
}

static void test_apijson(void)
{
    api_error e;
    const char *txt[] = {"", "{", "[1]", "\"s\"", "{\"a\":1,\"a\":2}", "{\"a\":\"\\u0000\"}",
                         "{\"a\":\"\xff\"}"};
    for (size_t i = 0; i < sizeof(txt) / sizeof(*txt); i++) {
        memset(&e, 0, sizeof(e));
        CHECK(apijson_parse_object(txt[i], strlen(txt[i]), &e) == NULL);
        CHECK_INT(e.status, 400);
        CHECK_STR(e.code, "invalid_json");
    }
    const char *body = "{\"s\":\"x\",\"n\":5,\"f\":1.5,\"b\":true,\"arr\":[\"en\",\"fr\"],"
                       "\"dup\":[\"en\",\"en\"],\"mixed\":[\"en\",3],\"nul\":null}";
    json_t *o = apijson_parse_object(body, strlen(body), &e);
    CHECK(o != NULL);
    const char *s;
    int64_t n;
    bool present, b;
    json_t *arr;
    CHECK_INT(apijson_string(o, "s", true, &s, &e), 0);
    CHECK_STR(s, "x");
    CHECK_INT(apijson_string(o, "n", true, &s, &e), -1);
    CHECK_INT(e.status, 400);
    CHECK_STR(e.code, "invalid_type");
    CHECK_INT(apijson_string(o, "missing", true, &s, &e), -1);
    CHECK_INT(e.status, 422);
    CHECK_STR(e.code, "missing_field");
    CHECK_INT(apijson_string(o, "nul", true, &s, &e), -1);
    CHECK_INT(e.status, 422);
    CHECK_INT(apijson_string(o, "missing", false, &s, &e), 0);
    CHECK(s == NULL);
    CHECK_INT(apijson_int(o, "n", true, 0, 10, &n, &present, &e), 0);
    CHECK_INT(n, 5);
    CHECK(present);
    CHECK_INT(apijson_int(o, "n", true, 6, 10, &n, &present, &e), -1);
    CHECK_INT(e.status, 422);
    CHECK_STR(e.code, "invalid_value");
    CHECK_INT(apijson_int(o, "f", true, 0, 10, &n, &present, &e), -1);
    CHECK_INT(e.status, 400);
    CHECK_INT(apijson_int(o, "s", false, 0, 10, &n, &present, &e), -1);
    CHECK_INT(apijson_int(o, "missing", false, 0, 10, &n, &present, &e), 0);
    CHECK(!present);
    CHECK_INT(apijson_bool(o, "b", &b, &present, &e), 0);
    CHECK(b && present);
    CHECK_INT(apijson_bool(o, "n", &b, &present, &e), -1);
    CHECK_INT(e.status, 400);
    CHECK_INT(apijson_string_array(o, "arr", 5, validate_language, &arr, &e), 0);
    CHECK_INT(json_array_size(arr), 2);
    CHECK_INT(apijson_string_array(o, "arr", 1, NULL, &arr, &e), -1);
    CHECK_INT(e.status, 422);
    CHECK_INT(apijson_string_array(o, "dup", 5, NULL, &arr, &e), -1);
    CHECK_INT(e.status, 422);
    CHECK_INT(apijson_string_array(o, "mixed", 5, NULL, &arr, &e), -1);
    CHECK_INT(e.status, 400);
    CHECK_INT(apijson_string_array(o, "s", 5, NULL, &arr, &e), -1);
    CHECK_INT(e.status, 400);
    const char *allowed[] = {"s", "n", NULL};
    CHECK_INT(apijson_only_fields(o, allowed, &e), -1);
    CHECK_INT(e.status, 422);
    CHECK_STR(e.code, "unknown_field");
    json_decref(o);

    api_fail(&e, 404, "not_found", "no user %d", 7);
    char *j = api_error_json(&e);
    CHECK_STR(j, "{\"error\":{\"code\":\"not_found\",\"message\":\"no user 7\"}}");
    free(j);
}

int main(void)
{
    test_email();
    test_text();
    test_ids_urls_languages();
    test_apijson();
    return check_summary("api-validate");
}
