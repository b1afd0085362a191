/*
 * sdp: a parsed model of a WebRTC session description (RFC 8866 syntax, JSEP RFC 9429 and
 * BUNDLE RFC 8843 usage as browsers emit it), its serialisation, answer generation for the
 * plugins, the transport attributes the core owns, and ICE candidate line parsing.
 *
 * Contract:
 *  - Sans-IO and plain C (no GLib): text in, model out, text back. Any thread; no global
 *    state. Functions on one sdp_session must not run concurrently.
 *  - sdp_parse() is strict on structure (v=0 first, an o= line, well-formed m= lines, at
 *    least one m= line, well-formed values of the attributes it models, unique mids) and
 *    bounded (SDP_MAX_TEXT bytes, SDP_MAX_MEDIA m-lines and the per-list limits below); it
 *    never reads past len and accepts CRLF or LF line ends. Attributes it does not model (and
 *    lines other than v/o/s/t/m/c/a) are kept verbatim, in order, and written back; so is a
 *    malformed a=candidate (one odd candidate must not fail a call).
 *    Errors: -1 with a one-line, human-readable reason in err (when errcap > 0); *out is
 *    then NULL.
 *  - Ownership: the sdp_session returned by sdp_parse()/sdp_make_answer()/sdp_clone() and
 *    every string and array hanging off it belong to the session and are released by
 *    sdp_free(). Callers may read the structs directly and may edit them through the
 *    functions below; pointers into a session stay valid until the next call that edits
 *    the same list (adding ssrcs, setting transport, ...) or sdp_free().
 *  - Session-level transport attributes (ice-ufrag, ice-pwd, ice-options, fingerprint,
 *    setup) are kept where they were written; sdp_media_transport() gives the effective
 *    value for an m-line (its own, else the session's).
 */
#ifndef PARLEY_PROTO_SDP_H
#define PARLEY_PROTO_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDP_MAX_TEXT (64u * 1024u)
#define SDP_MAX_MEDIA 64u
#define SDP_MAX_LINE 4096u
#define SDP_MAX_CANDIDATES 64u
#define SDP_MAX_ATTRS 256u       /* unknown attributes / other lines per level */
#define SDP_MAX_EXTMAPS 32u
#define SDP_MAX_SSRCS 128u       /* a=ssrc lines per m-line */
#define SDP_MAX_SSRC_GROUPS 32u
#define SDP_MAX_GROUP_SSRCS 16u
#define SDP_MAX_RTCP_FB 32u      /* per payload type */
#define SDP_MAX_FORMATS 128u

typedef enum sdp_media_type {
    SDP_MEDIA_AUDIO = 0,
    SDP_MEDIA_VIDEO = 1,
    SDP_MEDIA_APPLICATION = 2,
    SDP_MEDIA_OTHER = 3,
} sdp_media_type;

/* SDP_DIR_NONE: no direction attribute written (which means sendrecv). */
typedef enum sdp_direction {
    SDP_DIR_NONE = 0,
    SDP_DIR_SENDRECV,
    SDP_DIR_SENDONLY,
    SDP_DIR_RECVONLY,
    SDP_DIR_INACTIVE,
} sdp_direction;

/* An attribute kept verbatim: "a=name:value" (value NULL for "a=name"), or another line
 * type ("b=AS:30": name "AS:30" and type 'b'). */
typedef struct sdp_attr {
    char type;   /* 'a', or the line letter for other lines */
    char *name;
    char *value;
} sdp_attr;

typedef struct sdp_payload {
    uint8_t pt;           /* 0..127 */
    char *encoding;       /* rtpmap encoding name as written ("opus", "VP8"); NULL if none */
    uint32_t clock_rate;  /* 0 if no rtpmap */
    uint16_t channels;    /* 0 when the rtpmap gives none */
    char *fmtp;           /* text after "a=fmtp:<pt> ", NULL if none */
    char **rtcp_fb;       /* texts after "a=rtcp-fb:<pt> " ("nack", "nack pli", ...) */
    size_t n_rtcp_fb;
} sdp_payload;

typedef struct sdp_extmap {
    uint16_t id;          /* 1..14 one-byte, 1..255 two-byte (RFC 8285) */
    sdp_direction dir;    /* SDP_DIR_NONE when not given */
    char *uri;
    char *params;         /* extension attributes after the URI, NULL if none */
} sdp_extmap;

typedef struct sdp_ssrc {
    uint32_t ssrc;
    char *attr;           /* "cname", "msid", ... */
    char *value;          /* NULL for "a=ssrc:1 attr" */
} sdp_ssrc;

typedef struct sdp_ssrc_group {
    char *semantics;      /* "FID", "SIM", "FEC-FR" */
    uint32_t ssrcs[SDP_MAX_GROUP_SSRCS];
    size_t n_ssrcs;
} sdp_ssrc_group;

typedef struct sdp_media {
    sdp_media_type type;
    char *type_name;      /* as written: "audio", "video", "application", "text", ... */
    uint16_t port;
    uint16_t port_count;  /* the "/n" of m=, 0 when absent */
    char *proto;          /* "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ... */
    char **formats;       /* m= format tokens ("111", "webrtc-datachannel") */
    size_t n_formats;
    char *connection;     /* c= value at media level, NULL if none */

    char *mid;
    sdp_direction dir;
    char *ice_ufrag, *ice_pwd, *ice_options;
    char *fingerprint;    /* "sha-256 AB:CD:..." */
    char *setup;          /* "actpass", "active", "passive", "holdconn" */
    char **candidates;    /* "candidate:..." texts without "a=", each accepted by
                           * sdp_candidate_parse (others are kept verbatim in attrs) */
    size_t n_candidates;
    bool end_of_candidates;
    bool rtcp_mux, rtcp_mux_only, rtcp_rsize;
    bool bundle_only;
    bool rejected;        /* port 0 and not bundle-only */

    sdp_payload *payloads; /* one per numeric format of an RTP m-line, in m= order */
    size_t n_payloads;
    sdp_extmap *extmaps;
    size_t n_extmaps;
    sdp_ssrc *ssrcs;
    size_t n_ssrcs;
    sdp_ssrc_group *ssrc_groups;
    size_t n_ssrc_groups;
    char *msid;           /* first a=msid value ("stream track"), NULL if none */
    uint16_t sctp_port;   /* 0 if none */
    uint32_t max_message_size; /* valid when has_max_message_size (0 means unlimited) */
    bool has_max_message_size;

    sdp_attr *attrs;      /* everything else, verbatim, in order */
    size_t n_attrs;
} sdp_media;

typedef struct sdp_session {
    char *origin_user;    /* "-" */
    char *origin_sess_id; /* digits, kept as text (browsers use up to 2^63) */
    uint64_t origin_sess_version;
    char *origin_nettype, *origin_addrtype, *origin_addr;
    char *name;           /* s= */
    char *timing;         /* t= value, "0 0" by default */
    char *connection;     /* session-level c=, NULL if none */

    char **bundle;        /* mids of the first a=group:BUNDLE, NULL/0 if none */
    size_t n_bundle;
    char *msid_semantic;  /* value of a=msid-semantic: (" WMS *" trimmed), NULL if none */
    bool ice_lite;
    char *ice_ufrag, *ice_pwd, *ice_options;
    char *fingerprint;
    char *setup;

    sdp_attr *attrs;      /* unknown session-level attributes and other lines, in order */
    size_t n_attrs;

    sdp_media *media;
    size_t n_media;
} sdp_session;

/* Parsing and writing. */
int sdp_parse(const char *text, size_t len, sdp_session **out, char *err, size_t errcap);
void sdp_free(sdp_session *s);
/* Serialises with CRLF line ends and a terminating NUL. Returns the length (without NUL)
 * or -1 when cap is too small or s is unusable. */
int sdp_write(const sdp_session *s, char *out, size_t cap);
/* Same into a malloc'd string (caller frees), NULL on failure. */
char *sdp_write_alloc(const sdp_session *s);
/* Deep copy (via write + parse). NULL on failure. */
sdp_session *sdp_clone(const sdp_session *s);

/* Lookups. */
sdp_media *sdp_media_by_mid(const sdp_session *s, const char *mid);
int sdp_media_index_by_mid(const sdp_session *s, const char *mid); /* -1 if absent */
sdp_payload *sdp_media_payload(const sdp_media *m, int pt);       /* NULL if absent */
/* The payload type of the rtx stream whose apt= is pt, or -1. */
int sdp_media_rtx_pt(const sdp_media *m, int pt);
/* The extmap id negotiated for uri in m (exact match), or 0 when absent. */
int sdp_extmap_id(const sdp_media *m, const char *uri);
/* Effective direction: SDP_DIR_NONE reads as SDP_DIR_SENDRECV. */
sdp_direction sdp_media_direction(const sdp_media *m);
const char *sdp_direction_name(sdp_direction d);
/* Fills map[pt] with the index of the non-rejected m-line that declares pt, -1 when none
 * does, -2 when several do (the demuxer must use the mid extension then). */
void sdp_pt_map(const sdp_session *s, int8_t map[128]);

typedef struct sdp_transport {
    const char *ice_ufrag, *ice_pwd, *ice_options, *fingerprint, *setup;
} sdp_transport;
/* Effective transport attributes of m-line idx (media level first, then session). Pointers
 * borrow from s. Returns 0, or -1 when idx is out of range. */
int sdp_media_transport(const sdp_session *s, size_t idx, sdp_transport *t);

/* Core-owned transport attributes. */
/* Removes ice-ufrag/pwd/options/lite, fingerprint, setup, candidates and end-of-candidates at
 * every level (verbatim copies such as a second fingerprint too). */
void sdp_strip_transport(sdp_session *s);
/* Writes the transport attributes into every non-rejected m-line (removing all previous
 * ones, session-level included). candidates are "candidate:..." texts (a leading "a=" and
 * anything from a CR or LF on are dropped). NULL strings are left out. Returns 0, or -1 on
 * allocation failure or more than SDP_MAX_CANDIDATES. */
int sdp_set_transport(sdp_session *s, const char *ufrag, const char *pwd,
                      const char *fingerprint, const char *setup, const char *const *candidates,
                      size_t n_candidates, bool end_of_candidates);
/* Sets a=ice-options (e.g. "trickle") on every non-rejected m-line; NULL removes it.
 * Call after sdp_set_transport (which clears it). Returns 0 or -1. */
int sdp_set_ice_options(sdp_session *s, const char *options);
/* Adds a=ssrc:<ssrc> cname:<cname> and, when msid_stream is given,
 * a=ssrc:<ssrc> msid:<stream> <track> plus a media-level a=msid if m has none.
 * msid_track may be NULL (then only the stream id is written).
 * Returns 0 or -1. */
int sdp_add_ssrc(sdp_media *m, uint32_t ssrc, const char *cname, const char *msid_stream,
                 const char *msid_track);
/* Removes every a=ssrc, a=ssrc-group and a=msid of m (e.g. before a relay re-offers an
 * SDP with its own streams). */
void sdp_clear_ssrcs(sdp_media *m);
/* Adds a=ssrc-group:<semantics> ssrcs... (e.g. "FID" main rtx). Returns 0 or -1. */
int sdp_add_ssrc_group(sdp_media *m, const char *semantics, const uint32_t *ssrcs, size_t n);
/* Removes payload type pt from m (its rtpmap/fmtp/rtcp-fb and its m= format token).
 * 0, or -1 when m has no such payload. */
int sdp_media_remove_payload(sdp_media *m, int pt);
/* Removes the idx-th a=extmap of m. 0, or -1 when out of range. */
int sdp_media_remove_extmap(sdp_media *m, size_t idx);
/* Removes every verbatim a=<name> attribute of m (e.g. "simulcast", "rid"). */
void sdp_media_remove_attrs(sdp_media *m, const char *name);
/* Sets the direction of m-line idx. Returns 0 or -1. */
int sdp_set_direction(sdp_session *s, size_t idx, sdp_direction d);

/* Answer generation (used by plugins on an offer the core stripped of transport). */
#define SDP_MAX_CODEC_PREFS 8u
typedef struct sdp_answer_prefs {
    bool accept_audio, accept_video, accept_data;
    /* Preferred codec names in order (case-insensitive), NULL-terminated; a NULL first entry
     * means the default (audio: opus; video: VP8, VP9, H264). For H264 the payload with
     * packetization-mode=1 and profile-level-id 42e01f wins, then packetization-mode=1. */
    const char *audio_codecs[SDP_MAX_CODEC_PREFS + 1];
    const char *video_codecs[SDP_MAX_CODEC_PREFS + 1];
    /* Direction we want per kind; SDP_DIR_NONE means sendrecv. The answer's direction is
     * what we want intersected with the mirror of the offer's (offer sendonly -> recvonly). */
    sdp_direction audio_dir, video_dir;
    bool allow_rtx;   /* also answer the chosen codec's rtx payload (default false) */
    bool allow_twcc;  /* transport-cc feedback and the transport-wide-cc extmap */
    uint32_t max_message_size; /* data channel; 0 = 262144 */
    uint64_t session_id;       /* o= session id; 0 = derived from the offer's. The o=
                                * version is the offer's + 1, so it grows with each
                                * renegotiation the offerer makes. */
} sdp_answer_prefs;

/* accept all three kinds, default codecs, mirrored direction, no rtx, no twcc. */
void sdp_answer_prefs_default(sdp_answer_prefs *p);
/* Builds an answer (see the brief in the .c). Returns 0 and *answer (owned by the caller),
 * or -1 on allocation failure or an unusable offer. An m-line nothing can be accepted on
 * (kind not accepted, no common codec, unknown protocol) is rejected with port 0. */
int sdp_make_answer(const sdp_session *offer, const sdp_answer_prefs *prefs,
                    sdp_session **answer);

/* ICE candidate attribute (RFC 8839 5.1). */
typedef enum sdp_cand_type {
    SDP_CAND_HOST = 0,
    SDP_CAND_SRFLX,
    SDP_CAND_PRFLX,
    SDP_CAND_RELAY,
} sdp_cand_type;

typedef struct sdp_candidate {
    char foundation[33];
    uint16_t component;   /* 1..256 */
    char transport[8];    /* lower-cased: "udp" or "tcp" (others refused) */
    uint32_t priority;
    char address[256];    /* IPv4, IPv6 or an FQDN / mDNS name */
    uint16_t port;
    sdp_cand_type type;
    char raddr[256];      /* "" when absent */
    uint16_t rport;
    bool has_raddr;
    char tcptype[8];      /* "active", "passive", "so" or "" */
} sdp_candidate;

/* Parses "candidate:..." (with or without a leading "a="). Returns 0, or -1 when malformed
 * (missing fields, bad numbers, unknown type, odd extension list). */
int sdp_candidate_parse(const char *text, sdp_candidate *c);
/* Writes "candidate:..." (no "a=") into out; returns the length or -1 if cap is short. */
int sdp_candidate_format(const sdp_candidate *c, char *out, size_t cap);
const char *sdp_cand_type_name(sdp_cand_type t);

#endif
