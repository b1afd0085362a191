/*
 * sdp_fixtures.h: offers in the shape real clients produce (written from their documented
 * formats, with LF line ends; the tests also feed them as CRLF). Shared by test_sdp.c and
 * used to generate the fuzzer's seed corpus.
 */
#ifndef PARLEY_TESTS_SDP_FIXTURES_H
#define PARLEY_TESTS_SDP_FIXTURES_H

#define FP_A "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF"
#define FP_B "6B:8B:4F:2C:1A:00:9E:77:C3:D5:12:34:56:78:9A:BC:DE:F0:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE"

#define CHROME_VIDEO_FB(pt) \
    "a=rtcp-fb:" pt " goog-remb\n" \
    "a=rtcp-fb:" pt " transport-cc\n" \
    "a=rtcp-fb:" pt " ccm fir\n" \
    "a=rtcp-fb:" pt " nack\n" \
    "a=rtcp-fb:" pt " nack pli\n"

#define CHROME_TRANSPORT \
    "c=IN IP4 0.0.0.0\n" \
    "a=rtcp:9 IN IP4 0.0.0.0\n" \
    "a=ice-ufrag:EsAw\n" \
    "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\n" \
    "a=ice-options:trickle\n" \
    "a=fingerprint:sha-256 " FP_A "\n" \
    "a=setup:actpass\n"

/* Chrome (unified plan): opus + red etc., VP8/VP9/H264/AV1 each with rtx, BUNDLE, data. */
static const char CHROME_OFFER[] =
    "v=0\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0 1 2\n"
    "a=extmap-allow-mixed\n"
    "a=msid-semantic: WMS stream1\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\n"
    CHROME_TRANSPORT
    "a=mid:0\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\n"
    "a=sendrecv\n"
    "a=msid:stream1 audiotrack1\n"
    "a=rtcp-mux\n"
    "a=rtcp-rsize\n"
    "a=rtpmap:111 opus/48000/2\n"
    "a=rtcp-fb:111 transport-cc\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\n"
    "a=rtpmap:63 red/48000/2\n"
    "a=fmtp:63 111/111\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:13 CN/8000\n"
    "a=rtpmap:110 telephone-event/48000\n"
    "a=rtpmap:126 telephone-event/8000\n"
    "a=ssrc:1111111111 cname:abcdEFGHijkl1234\n"
    "a=ssrc:1111111111 msid:stream1 audiotrack1\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 35 36\n"
    CHROME_TRANSPORT
    "a=mid:1\n"
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\n"
    "a=extmap:13 urn:3gpp:video-orientation\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\n"
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\n"
    "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\n"
    "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\n"
    "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\n"
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\n"
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\n"
    "a=sendrecv\n"
    "a=msid:stream1 videotrack1\n"
    "a=rtcp-mux\n"
    "a=rtcp-rsize\n"
    "a=rtpmap:96 VP8/90000\n"
    CHROME_VIDEO_FB("96")
    "a=rtpmap:97 rtx/90000\n"
    "a=fmtp:97 apt=96\n"
    "a=rtpmap:98 VP9/90000\n"
    CHROME_VIDEO_FB("98")
    "a=fmtp:98 profile-id=0\n"
    "a=rtpmap:99 rtx/90000\n"
    "a=fmtp:99 apt=98\n"
    "a=rtpmap:100 H264/90000\n"
    CHROME_VIDEO_FB("100")
    "a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\n"
    "a=rtpmap:101 rtx/90000\n"
    "a=fmtp:101 apt=100\n"
    "a=rtpmap:102 H264/90000\n"
    CHROME_VIDEO_FB("102")
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\n"
    "a=rtpmap:103 rtx/90000\n"
    "a=fmtp:103 apt=102\n"
    "a=rtpmap:35 AV1/90000\n"
    CHROME_VIDEO_FB("35")
    "a=rtpmap:36 rtx/90000\n"
    "a=fmtp:36 apt=35\n"
    "a=ssrc-group:FID 2222222222 3333333333\n"
    "a=ssrc:2222222222 cname:abcdEFGHijkl1234\n"
    "a=ssrc:2222222222 msid:stream1 videotrack1\n"
    "a=ssrc:3333333333 cname:abcdEFGHijkl1234\n"
    "a=ssrc:3333333333 msid:stream1 videotrack1\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
    "c=IN IP4 0.0.0.0\n"
    "a=ice-ufrag:EsAw\n"
    "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\n"
    "a=ice-options:trickle\n"
    "a=fingerprint:sha-256 " FP_A "\n"
    "a=setup:actpass\n"
    "a=mid:2\n"
    "a=sctp-port:5000\n"
    "a=max-message-size:262144\n";

/* Firefox: session-level fingerprint and ice-options, fmtp before rtpmap, {uuid} msids,
 * recvonly video, extmap directions, huge max-message-size. */
static const char FIREFOX_OFFER[] =
    "v=0\n"
    "o=mozilla...THIS_IS_SDPARTA-99.0 5017474069536315093 0 IN IP4 0.0.0.0\n"
    "s=-\n"
    "t=0 0\n"
    "a=fingerprint:sha-256 " FP_B "\n"
    "a=group:BUNDLE 0 1 2\n"
    "a=ice-options:trickle\n"
    "a=msid-semantic:WMS *\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\n"
    "c=IN IP4 0.0.0.0\n"
    "a=sendrecv\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
    "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\n"
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\n"
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\n"
    "a=fmtp:101 0-15\n"
    "a=ice-pwd:b9d3f0a6bd3d4c2f8a3f0e5e2d1c0b9a\n"
    "a=ice-ufrag:3e5c1a7d\n"
    "a=mid:0\n"
    "a=msid:{5f1b2c3d-aaaa-bbbb-cccc-000000000001} {a3c2d1e0-aaaa-bbbb-cccc-000000000002}\n"
    "a=rtcp-mux\n"
    "a=rtpmap:109 opus/48000/2\n"
    "a=rtpmap:9 G722/8000/1\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=setup:actpass\n"
    "a=ssrc:3612349021 cname:{0d7e1111-2222-3333-4444-555555555555}\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98\n"
    "c=IN IP4 0.0.0.0\n"
    "a=recvonly\n"
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\n"
    "a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\n"
    "a=extmap:5 urn:ietf:params:rtp-hdrext:toffset\n"
    "a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\n"
    "a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\n"
    "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\n"
    "a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1\n"
    "a=fmtp:120 max-fs=12288;max-fr=60\n"
    "a=fmtp:124 apt=120\n"
    "a=fmtp:121 max-fs=12288;max-fr=60\n"
    "a=fmtp:125 apt=121\n"
    "a=fmtp:127 apt=126\n"
    "a=fmtp:98 apt=97\n"
    "a=ice-pwd:b9d3f0a6bd3d4c2f8a3f0e5e2d1c0b9a\n"
    "a=ice-ufrag:3e5c1a7d\n"
    "a=mid:1\n"
    "a=rtcp-fb:120 nack\n"
    "a=rtcp-fb:120 nack pli\n"
    "a=rtcp-fb:120 ccm fir\n"
    "a=rtcp-fb:120 goog-remb\n"
    "a=rtcp-fb:120 transport-cc\n"
    "a=rtcp-fb:121 nack\n"
    "a=rtcp-fb:121 nack pli\n"
    "a=rtcp-fb:121 ccm fir\n"
    "a=rtcp-fb:126 nack\n"
    "a=rtcp-fb:126 nack pli\n"
    "a=rtcp-fb:97 nack\n"
    "a=rtcp-mux\n"
    "a=rtcp-rsize\n"
    "a=rtpmap:120 VP8/90000\n"
    "a=rtpmap:124 rtx/90000\n"
    "a=rtpmap:121 VP9/90000\n"
    "a=rtpmap:125 rtx/90000\n"
    "a=rtpmap:126 H264/90000\n"
    "a=rtpmap:127 rtx/90000\n"
    "a=rtpmap:97 H264/90000\n"
    "a=rtpmap:98 rtx/90000\n"
    "a=setup:actpass\n"
    "a=ssrc:2963486541 cname:{0d7e1111-2222-3333-4444-555555555555}\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
    "c=IN IP4 0.0.0.0\n"
    "a=sendrecv\n"
    "a=ice-pwd:b9d3f0a6bd3d4c2f8a3f0e5e2d1c0b9a\n"
    "a=ice-ufrag:3e5c1a7d\n"
    "a=mid:2\n"
    "a=setup:actpass\n"
    "a=sctp-port:5000\n"
    "a=max-message-size:1073741823\n";

#define AIORTC_CANDS \
    "a=candidate:5e5ac0d4b1b0c9b0ef5e0f6c4b8a0d5c 1 udp 2130706431 127.0.0.2 50446 typ host\n" \
    "a=candidate:0f6e43c6d5a5a3f6c8e1d9b7a5c3e1f0 1 udp 1694498815 198.51.100.7 50446 typ srflx " \
    "raddr 127.0.0.2 rport 50446\n" \
    "a=end-of-candidates\n" \
    "a=ice-ufrag:7Dzx\n" \
    "a=ice-pwd:vO0DIGrTLeu2hGThmn9CjF\n" \
    "a=fingerprint:sha-256 " FP_B "\n" \
    "a=setup:actpass\n"

/* aiortc 1.4 shape: real port and address in m=/c=, candidates and end-of-candidates in the
 * offer, no rtcp-rsize, H264 42001f and 42e01f. (A real capture, with its per-m-line ICE
 * credentials and legacy DTLS/SCTP data m-line, is tested by test_sdp_real.c.) */
static const char AIORTC_OFFER[] =
    "v=0\n"
    "o=- 3908557183 3908557183 IN IP4 0.0.0.0\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0 1\n"
    "a=msid-semantic:WMS *\n"
    "m=audio 50446 UDP/TLS/RTP/SAVPF 96 0 8\n"
    "c=IN IP4 127.0.0.2\n"
    "a=sendrecv\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\n"
    "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
    "a=mid:0\n"
    "a=msid:d6b5ac5e-5a5b-4d4c-9e6f-8e9a1b2c3d4e 0e4b1a2c-3d4e-5f60-7182-93a4b5c6d7e8\n"
    "a=rtcp:9 IN IP4 0.0.0.0\n"
    "a=rtcp-mux\n"
    "a=ssrc:1586046404 cname:6f2e5a9c-1b2d-4e3f-8a7b-9c0d1e2f3a4b\n"
    "a=rtpmap:96 opus/48000/2\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    AIORTC_CANDS
    "m=video 50446 UDP/TLS/RTP/SAVPF 97 98 99 100 101 102\n"
    "c=IN IP4 127.0.0.2\n"
    "a=sendrecv\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\n"
    "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\n"
    "a=mid:1\n"
    "a=msid:d6b5ac5e-5a5b-4d4c-9e6f-8e9a1b2c3d4e 7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d\n"
    "a=rtcp:9 IN IP4 0.0.0.0\n"
    "a=rtcp-mux\n"
    "a=ssrc-group:FID 2436485390 1766412133\n"
    "a=ssrc:2436485390 cname:6f2e5a9c-1b2d-4e3f-8a7b-9c0d1e2f3a4b\n"
    "a=ssrc:1766412133 cname:6f2e5a9c-1b2d-4e3f-8a7b-9c0d1e2f3a4b\n"
    "a=rtpmap:97 VP8/90000\n"
    "a=rtcp-fb:97 nack\n"
    "a=rtcp-fb:97 nack pli\n"
    "a=rtcp-fb:97 goog-remb\n"
    "a=rtpmap:98 rtx/90000\n"
    "a=fmtp:98 apt=97\n"
    "a=rtpmap:99 H264/90000\n"
    "a=rtcp-fb:99 nack\n"
    "a=rtcp-fb:99 nack pli\n"
    "a=rtcp-fb:99 goog-remb\n"
    "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\n"
    "a=rtpmap:100 rtx/90000\n"
    "a=fmtp:100 apt=99\n"
    "a=rtpmap:101 H264/90000\n"
    "a=rtcp-fb:101 nack\n"
    "a=rtcp-fb:101 nack pli\n"
    "a=rtcp-fb:101 goog-remb\n"
    "a=fmtp:101 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\n"
    "a=rtpmap:102 rtx/90000\n"
    "a=fmtp:102 apt=101\n"
    AIORTC_CANDS;

#endif
