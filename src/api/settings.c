/*
 * settings: platform_config_check (platform.h). util/config cannot judge these values
 * without calling up into src/api; here each setting is paired with the very function the
 * platform applies at start, so a value --check-config accepts is one the start accepts.
 */
#include "api/internal.h"
#include "util/config.h"

static bool check_stun_uris(const char *value, char *why, size_t whycap)
{
    return turn_uri_list_check(value, false, NULL, why, whycap) >= 0;
}

static bool check_turn_uris(const char *value, char *why, size_t whycap)
{
    return turn_uri_list_check(value, true, NULL, why, whycap) >= 0;
}

bool platform_config_check(const struct server_config *cfg, char *err, size_t errcap)
{
    static const struct {
        const char *name;
        config_value_check check;
    } checks[] = {
        {"billing.credit_packages", purchases_packages_check},
        {"media.stun_uris", check_stun_uris},
        {"media.turn_uris", check_turn_uris},
        {"auth.jwt_secret", platform_jwt_secret_check},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (!config_check_setting(cfg, checks[i].name, checks[i].check, err, errcap))
            return false;
    return true;
}
