/*
 * test_call.c: unit tests of the calls plugin's pure parts — the call state machine (call.c),
 * the registry (registry.c) and the RTCP feedback scan (feedback.c). No core, no threads.
 * Build: gcc -std=c17 -D_GNU_SOURCE -I plugins plugins/calls/{test_call,call,registry,feedback}.c
 * (meant to move to tests/unit/plugins/ and use tests/unit/check.h).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

#include "call.h"
#include "feedback.h"
#include "registry.h"

/* Legs are opaque: any distinct addresses do. */
static int caller, dev1, dev2, dev3, stranger;

static void ring(call *c, size_t n_devices)
{
    void *devices[] = {&dev1, &dev2, &dev3};
    CHECK_INT(vc_call_init(c, "00000000-0000-4000-8000-000000000000", &caller, "7", 7, "9", 9, CALL_KIND_VIDEO,
                        devices, n_devices), 0);
    CHECK_INT(c->state, CALL_RINGING);
}

static void test_accept_releases_others(void)
{
    call c;
    call_outcome out;
    ring(&c, 3);
    vc_call_step(&c, CALL_IN_ACCEPT, &dev2, &out);
    CHECK_INT(out.refusal, CALL_OK);
    CHECK(out.answered);
    CHECK(!out.ended);
    CHECK_INT(c.state, CALL_ACTIVE);
    CHECK(c.legs[CALL_LEG_HOST].session == &dev2);
    CHECK_INT(out.n_released, 2);
    CHECK(out.released[0] == &dev1 && out.released[1] == &dev3);
    CHECK_INT(out.release_reason, CALL_REASON_ANSWERED_ELSEWHERE);
    CHECK_INT(c.n_ringing, 0);
    vc_call_outcome_clear(&out);
    /* The first accept won: a second one is refused, by anyone. */
    vc_call_step(&c, CALL_IN_ACCEPT, &dev1, &out);
    CHECK_INT(out.refusal, CALL_REFUSED_NOT_RINGING);
    vc_call_step(&c, CALL_IN_ACCEPT, &dev2, &out);
    CHECK_INT(out.refusal, CALL_REFUSED_NOT_RINGING);
    CHECK(vc_call_other_party(&c, &caller) == &dev2);
    CHECK(vc_call_other_party(&c, &dev2) == &caller);
    CHECK(vc_call_other_party(&c, &dev1) == NULL);
    CHECK(vc_registry_other_leg(&c, &dev2) == &caller);
    vc_call_free(&c);
}

static void test_accept_by_stranger_refused(void)
{
    call c;
    call_outcome out;
    ring(&c, 2);
    vc_call_step(&c, CALL_IN_ACCEPT, &stranger, &out);
    CHECK_INT(out.refusal, CALL_REFUSED_NOT_RINGING);
    vc_call_step(&c, CALL_IN_ACCEPT, &caller, &out);
    CHECK_INT(out.refusal, CALL_REFUSED_NOT_RINGING);
    CHECK_INT(c.state, CALL_RINGING);
    CHECK_INT(c.n_ringing, 2);
    vc_call_free(&c);
}

static void test_declines(void)
{
    call c;
    call_outcome out;
    ring(&c, 3);
    /* One device declines: the call ends; the others stop ringing, the decliner is not
     * released (its request gets the reply). */
    vc_call_step(&c, CALL_IN_HANGUP, &dev2, &out);
    CHECK_INT(out.refusal, CALL_OK);
    CHECK(out.ended);
    CHECK(out.ended_by == &dev2);
    CHECK_INT(out.n_released, 2);
    CHECK(out.released[0] == &dev1 && out.released[1] == &dev3);
    CHECK_INT(out.release_reason, CALL_REASON_DECLINED);
    CHECK_INT(c.state, CALL_ENDED);
    CHECK_STR(vc_call_reason_name(c.reason), "declined");
    vc_call_outcome_clear(&out);
    vc_call_step(&c, CALL_IN_HANGUP, &caller, &out);
    CHECK_INT(out.refusal, CALL_REFUSED_ENDED);
    vc_call_free(&c);
}

static void test_caller_cancels(void)
{
    call c;
    call_outcome out;
    ring(&c, 2);
    vc_call_step(&c, CALL_IN_HANGUP, &caller, &out);
    CHECK(out.ended);
    CHECK(out.ended_by == &caller);
    CHECK_INT(c.reason, CALL_REASON_CANCELLED);
    CHECK_INT(out.n_released, 2);
    CHECK_INT(out.release_reason, CALL_REASON_CANCELLED);
    vc_call_outcome_clear(&out);
    vc_call_free(&c);

    /* The caller's PeerConnection (the offer everybody answers) is gone: cancelled too. */
    ring(&c, 1);
    vc_call_step(&c, CALL_IN_MEDIA_LOST, &caller, &out);
    CHECK(out.ended);
    CHECK_INT(c.reason, CALL_REASON_CANCELLED);
    CHECK_INT(out.n_released, 1);
    vc_call_outcome_clear(&out);
    vc_call_free(&c);

    /* A ringing device losing an old PeerConnection changes nothing. */
    ring(&c, 1);
    vc_call_step(&c, CALL_IN_MEDIA_LOST, &dev1, &out);
    CHECK_INT(out.refusal, CALL_IGNORED);
    CHECK_INT(c.state, CALL_RINGING);
    vc_call_free(&c);
}

static void test_ring_timeout_and_host_busy(void)
{
    call c;
    call_outcome out;
    ring(&c, 3);
    vc_call_step(&c, CALL_IN_RING_TIMEOUT, NULL, &out);
    CHECK(out.ended);
    CHECK(out.ended_by == NULL);
    CHECK_STR(vc_call_reason_name(c.reason), "no_answer");
    CHECK_INT(out.n_released, 3);
    CHECK_INT(out.release_reason, CALL_REASON_NO_ANSWER);
    vc_call_outcome_clear(&out);
    vc_call_free(&c);

    ring(&c, 2);
    vc_call_step(&c, CALL_IN_HOST_BUSY, NULL, &out);
    CHECK(out.ended);
    CHECK_STR(vc_call_reason_name(c.reason), "busy");
    CHECK_INT(out.n_released, 2);
    vc_call_outcome_clear(&out);
    vc_call_free(&c);

    /* A stale ring timer on an answered call does nothing. */
    ring(&c, 1);
    vc_call_step(&c, CALL_IN_ACCEPT, &dev1, &out);
    vc_call_outcome_clear(&out);
    vc_call_step(&c, CALL_IN_RING_TIMEOUT, NULL, &out);
    CHECK_INT(out.refusal, CALL_IGNORED);
    CHECK_INT(c.state, CALL_ACTIVE);
    vc_call_free(&c);
}

static void answered(call *c)
{
    call_outcome out;
    ring(c, 2);
    vc_call_step(c, CALL_IN_ACCEPT, &dev1, &out);
    vc_call_outcome_clear(&out);
}

static void test_active_hangup_either_side(void)
{
    call c;
    call_outcome out;
    answered(&c);
    vc_call_step(&c, CALL_IN_HANGUP, &dev1, &out);
    CHECK(out.ended);
    CHECK(out.ended_by == &dev1);
    CHECK_STR(vc_call_reason_name(c.reason), "hangup");
    vc_call_free(&c);

    answered(&c);
    vc_call_step(&c, CALL_IN_HANGUP, &dev2, &out); /* lost the race: not a party */
    CHECK_INT(out.refusal, CALL_REFUSED_NOT_A_PARTY);
    vc_call_step(&c, CALL_IN_HANGUP, &caller, &out);
    CHECK(out.ended);
    CHECK(out.ended_by == &caller);
    vc_call_free(&c);
}

static void test_media_and_meter(void)
{
    call c;
    call_outcome out;
    answered(&c);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &caller, &out);
    CHECK(!out.meter_start);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &dev1, &out);
    CHECK(out.meter_start);
    CHECK(c.metered);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &dev1, &out); /* starts once */
    CHECK(!out.meter_start);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &dev2, &out);
    CHECK_INT(out.refusal, CALL_REFUSED_NOT_A_PARTY);
    vc_call_free(&c);

    /* Media up while ringing is ignored (the plugin replays it at accept). */
    ring(&c, 1);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &dev1, &out);
    CHECK_INT(out.refusal, CALL_IGNORED);
    vc_call_free(&c);
}

static void test_grace(void)
{
    call c;
    call_outcome out;
    answered(&c);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &caller, &out);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &dev1, &out);
    vc_call_step(&c, CALL_IN_MEDIA_LOST, &dev1, &out);
    CHECK_INT(out.start_grace, CALL_LEG_HOST);
    CHECK(c.legs[CALL_LEG_HOST].lost);
    CHECK_INT(c.state, CALL_ACTIVE);
    vc_call_step(&c, CALL_IN_MEDIA_LOST, &dev1, &out); /* already counting */
    CHECK_INT(out.refusal, CALL_IGNORED);
    CHECK_INT(out.start_grace, -1);
    vc_call_step(&c, CALL_IN_MEDIA_UP, &dev1, &out); /* back in time */
    CHECK_INT(out.cancel_grace, CALL_LEG_HOST);
    CHECK(!c.legs[CALL_LEG_HOST].lost);
    CHECK(!out.meter_start); /* the meter kept running */
    vc_call_step(&c, CALL_IN_GRACE_EXPIRED, &dev1, &out); /* a timer that lost the race */
    CHECK_INT(out.refusal, CALL_IGNORED);
    CHECK_INT(c.state, CALL_ACTIVE);
    vc_call_step(&c, CALL_IN_MEDIA_LOST, &caller, &out);
    CHECK_INT(out.start_grace, CALL_LEG_CALLER);
    vc_call_step(&c, CALL_IN_GRACE_EXPIRED, &caller, &out);
    CHECK(out.ended);
    CHECK(out.ended_by == &caller);
    CHECK_STR(vc_call_reason_name(c.reason), "peer_gone");
    vc_call_free(&c);
}

static void test_detached(void)
{
    call c;
    call_outcome out;
    answered(&c);
    vc_call_step(&c, CALL_IN_DETACHED, &caller, &out);
    CHECK(out.ended);
    CHECK_INT(c.reason, CALL_REASON_PEER_GONE);
    vc_call_free(&c);

    ring(&c, 2);
    vc_call_step(&c, CALL_IN_DETACHED, &dev1, &out); /* one device gone: the other rings on */
    CHECK(!out.ended);
    CHECK_INT(c.n_ringing, 1);
    vc_call_step(&c, CALL_IN_DETACHED, &dev2, &out);
    CHECK(out.ended);
    CHECK_INT(c.reason, CALL_REASON_PEER_GONE);
    vc_call_outcome_clear(&out);
    vc_call_free(&c);

    ring(&c, 2);
    vc_call_step(&c, CALL_IN_DETACHED, &caller, &out);
    CHECK(out.ended);
    CHECK_INT(out.n_released, 2);
    CHECK_INT(out.release_reason, CALL_REASON_PEER_GONE);
    vc_call_outcome_clear(&out);
    vc_call_free(&c);
}

static void test_renegotiation(void)
{
    call c;
    call_outcome out;
    void *initiator = NULL;
    ring(&c, 1);
    CHECK_INT(vc_call_reneg_offer(&c, &caller), CALL_REFUSED_NOT_ACTIVE);
    vc_call_step(&c, CALL_IN_ACCEPT, &dev1, &out);
    vc_call_outcome_clear(&out);
    CHECK_INT(vc_call_reneg_answer(&c, &dev1, &initiator), CALL_REFUSED_NO_RENEGOTIATION);
    CHECK_INT(vc_call_reneg_offer(&c, &stranger), CALL_REFUSED_NOT_A_PARTY);
    CHECK_INT(vc_call_reneg_offer(&c, &caller), CALL_OK);
    CHECK_INT(vc_call_reneg_offer(&c, &caller), CALL_OK); /* the same side may offer again */
    CHECK_INT(vc_call_reneg_offer(&c, &dev1), CALL_REFUSED_GLARE);
    CHECK_INT(vc_call_reneg_answer(&c, &caller, &initiator), CALL_REFUSED_NO_RENEGOTIATION);
    CHECK_INT(vc_call_reneg_answer(&c, &dev1, &initiator), CALL_OK);
    CHECK(initiator == &caller);
    CHECK_INT(vc_call_reneg_answer(&c, &dev1, &initiator), CALL_REFUSED_NO_RENEGOTIATION);
    /* A lost leg drops a pending offer: it must be free to offer its new connection. */
    CHECK_INT(vc_call_reneg_offer(&c, &caller), CALL_OK);
    vc_call_step(&c, CALL_IN_MEDIA_LOST, &dev1, &out);
    CHECK_INT(vc_call_reneg_offer(&c, &dev1), CALL_OK);
    CHECK(!vc_call_set_kind(&c, CALL_KIND_VIDEO));
    CHECK(vc_call_set_kind(&c, CALL_KIND_AUDIO));
    CHECK_STR(vc_call_kind_name(c.kind), "audio");
    vc_call_free(&c);
}

static void test_admission(void)
{
    CHECK_INT(vc_call_admit(false, false, 2, 2), CALL_REASON_NONE);
    CHECK_INT(vc_call_admit(true, false, 2, 2), CALL_REASON_BUSY);
    CHECK_INT(vc_call_admit(true, true, 0, 0), CALL_REASON_BUSY);
    CHECK_INT(vc_call_admit(false, true, 2, 2), CALL_REASON_UNAVAILABLE);
    CHECK_INT(vc_call_admit(false, false, 0, 0), CALL_REASON_UNAVAILABLE);
    CHECK_INT(vc_call_admit(false, false, 2, 0), CALL_REASON_BUSY); /* all lines ringing */
    CHECK_INT(vc_call_admit(false, false, 2, 1), CALL_REASON_NONE);
}

static void test_names(void)
{
    const char *want[] = {"none", "hangup", "declined", "no_answer", "cancelled", "busy",
                          "unavailable", "peer_gone", "answered_elsewhere"};
    for (int r = CALL_REASON_NONE; r <= CALL_REASON_ANSWERED_ELSEWHERE; r++)
        CHECK_STR(vc_call_reason_name((call_reason)r), want[r]);
    CHECK_STR(vc_call_state_name(CALL_RINGING), "ringing");
    CHECK_STR(vc_call_state_name(CALL_ACTIVE), "active");
    CHECK_STR(vc_call_state_name(CALL_ENDED), "ended");
}

static void test_ids(void)
{
    char a[CALL_ID_LEN + 1], b[CALL_ID_LEN + 1];
    CHECK_INT(vc_call_new_id(a), 0);
    CHECK_INT(vc_call_new_id(b), 0);
    CHECK_INT(strlen(a), CALL_ID_LEN);
    CHECK(strcmp(a, b) != 0);
    CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);
}

static void test_registry(void)
{
    registry *r = vc_registry_create();
    void *const *devices;
    CHECK_INT(vc_registry_devices(r, "9", &devices), 0);
    CHECK_INT(vc_registry_add(r, "9", &dev1), 0);
    CHECK_INT(vc_registry_add(r, "9", &dev2), 0);
    CHECK_INT(vc_registry_add(r, "7", &caller), 0);
    CHECK_INT(vc_registry_name_count(r), 2);
    CHECK_INT(vc_registry_devices(r, "9", &devices), 2);
    CHECK(devices[0] == &dev1 && devices[1] == &dev2);
    vc_registry_remove(r, "9", &dev1);
    CHECK_INT(vc_registry_devices(r, "9", &devices), 1);
    CHECK(devices[0] == &dev2);
    vc_registry_remove(r, "9", &stranger); /* not there: nothing happens */
    CHECK_INT(vc_registry_devices(r, "9", &devices), 1);
    vc_registry_remove(r, "9", &dev2);
    CHECK_INT(vc_registry_devices(r, "9", &devices), 0);
    CHECK_INT(vc_registry_name_count(r), 1);
    CHECK_STR(vc_registry_name_at(r, 0), "7");
    CHECK(vc_registry_name_at(r, 1) == NULL);
    for (int i = 0; i < 100; i++) /* growth */
        CHECK_INT(vc_registry_add(r, "many", &dev3), 0);
    CHECK_INT(vc_registry_devices(r, "many", &devices), 100);
    vc_registry_destroy(r);
}

static void test_feedback(void)
{
    /* SR (28 bytes) + REMB (24 bytes) */
    uint8_t compound[52] = {0};
    compound[0] = 0x80; compound[1] = 200; compound[3] = 6;
    uint8_t *remb = compound + 28;
    remb[0] = 0x8f; remb[1] = 206; remb[3] = 5;
    memcpy(remb + 12, "REMB", 4);
    CHECK_INT(vc_rtcp_feedback_scan(compound, sizeof compound), FEEDBACK_REMB);
    CHECK_INT(vc_rtcp_feedback_scan(compound, 28), 0);
    CHECK_INT(vc_rtcp_feedback_scan(compound, 40), 0); /* truncated REMB */
    /* TWCC */
    uint8_t twcc[20] = {0x8f, 205, 0, 4};
    CHECK_INT(vc_rtcp_feedback_scan(twcc, sizeof twcc), FEEDBACK_TWCC);
    /* A PLI (206/1) and a generic NACK (205/1) are neither. */
    uint8_t pli[12] = {0x81, 206, 0, 2};
    uint8_t nack[16] = {0x81, 205, 0, 3};
    CHECK_INT(vc_rtcp_feedback_scan(pli, sizeof pli), 0);
    CHECK_INT(vc_rtcp_feedback_scan(nack, sizeof nack), 0);
    /* Garbage: wrong version, lengths beyond the buffer. */
    uint8_t bad[8] = {0x40, 206, 0xff, 0xff};
    CHECK_INT(vc_rtcp_feedback_scan(bad, sizeof bad), 0);
    CHECK_INT(vc_rtcp_feedback_scan(bad, 0), 0);
}

int main(void)
{
    test_accept_releases_others();
    test_accept_by_stranger_refused();
    test_declines();
    test_caller_cancels();
    test_ring_timeout_and_host_busy();
    test_active_hangup_either_side();
    test_media_and_meter();
    test_grace();
    test_detached();
    test_renegotiation();
    test_admission();
    test_names();
    test_ids();
    test_registry();
    test_feedback();
    return check_summary("test_call");
}
