/*
 * libFuzzer target: request bodies of the platform API as the handlers read them — the JSON
 * parse (apijson_parse_object) followed by the typed getters and the validation rules used
 * by register, login, PATCH /me and purchases. Checks no crash and that every refusal
 * carries a 4xx status and a code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/apijson.h"
#include "api/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_expect_4xx(const api_error *e)
{
    if (e->status < 400 || e->status > 499 || !e->code)
        abort();
}

static int fuzz_tag(const char *s)
{
    return validate_text(s, 1, 32, 0);
}

static void fuzz_fields(json_t *o)
{
    api_error e;
    const char *s;
    char norm[VALIDATE_EMAIL_MAX + 1];
    static const char *const strings[] = {"email", "password", "display_name", "device_id",
                                          "device_name", "bio", "avatar_url", "package_id",
                                          "refresh_token", "id", "type"};
    for (size_t i = 0; i < sizeof(strings) / sizeof(*strings); i++) {
        if (apijson_string(o, strings[i], i < 2, &s, &e) != 0) {
            fuzz_expect_4xx(&e);
            continue;
        }
        if (!s)
            continue;
        (void)validate_email(s, norm, sizeof(norm));
        (void)validate_password(s);
        (void)validate_text(s, 0, 1000, 1);
        (void)validate_device_id(s);
        (void)validate_url(s);
        (void)validate_language(s);
    }
    int64_t v;
    bool present, b;
    static const char *const ints[] = {"audio_rate", "video_rate", "message_rate", "purchase_id"};
    for (size_t i = 0; i < 4; i++)
        if (apijson_int(o, ints[i], false, 0, 1000000000, &v, &present, &e) != 0)
            fuzz_expect_4xx(&e);
    if (apijson_bool(o, "do_not_disturb", &b, &present, &e) != 0)
        fuzz_expect_4xx(&e);
    json_t *arr;
    if (apijson_string_array(o, "languages", 10, validate_language, &arr, &e) != 0)
        fuzz_expect_4xx(&e);
    if (apijson_string_array(o, "tags", 20, fuzz_tag, &arr, &e) != 0)
        fuzz_expect_4xx(&e);
    static const char *const allowed[] = {"email", "password", "role", "display_name", NULL};
    if (apijson_only_fields(o, allowed, &e) != 0)
        fuzz_expect_4xx(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    api_error e;
    json_t *o = apijson_parse_object((const char *)data, size, &e);
    if (!o) {
        fuzz_expect_4xx(&e);
        char *txt = api_error_json(&e);
        if (!txt)
            abort();
        free(txt);
        return 0;
    }
    fuzz_fields(o);
    json_decref(o);
    return 0;
}
