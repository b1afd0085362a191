/*
 * openapi: the platform API's OpenAPI 3.1 document, served at GET /api/v1/openapi.yaml.
 *
 * The one source of truth is web/openapi.yaml (docs/openapi.yaml links to it). The build
 * (src/api/meson.build, embed_file.py) compiles its bytes into the binary, so the document
 * served is always the one this binary was built with, whatever general.web_root points at.
 *
 * api_openapi_yaml holds api_openapi_yaml_len bytes of UTF-8 YAML followed by one NUL.
 * Immutable; any thread.
 */
#ifndef PARLEY_API_OPENAPI_H
#define PARLEY_API_OPENAPI_H

#include <stddef.h>

extern const unsigned char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

#endif
