// getStats() digests for the tests: inbound RTP counters per kind and the selected ICE pair.
// Runs in the browser page; pure functions of an RTCPeerConnection.

export async function digest(pc) {
  const out = {
    audio: { packetsReceived: 0, bytesReceived: 0 },
    video: { packetsReceived: 0, bytesReceived: 0, framesDecoded: 0, packetsLost: 0, nackCount: 0, pliCount: 0, freezeCount: 0 },
    outAudio: 0, outVideo: 0, outVideoFeedback: { nackCount: 0, pliCount: 0, retransmittedPackets: 0 },
    pair: null, remoteCandidates: [], localCandidates: [],
    rtt: { audio: null, video: null }, // seconds, from the RTCP reports about what we send
    iceState: pc.iceConnectionState, connState: pc.connectionState,
  };
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let selectedPairId = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
      out[s.kind].packetsReceived += s.packetsReceived || 0;
      out[s.kind].bytesReceived += s.bytesReceived || 0;
      if (s.kind === 'video') {
        for (const k of ['framesDecoded', 'packetsLost', 'nackCount', 'pliCount', 'freezeCount']) out.video[k] += s[k] || 0;
      }
    } else if (s.type === 'outbound-rtp') {
      if (s.kind === 'audio') out.outAudio += s.packetsSent || 0;
      if (s.kind === 'video') {
        out.outVideo += s.packetsSent || 0;
        // Feedback the server sent us about what we send.
        out.outVideoFeedback.nackCount += s.nackCount || 0;
        out.outVideoFeedback.pliCount += s.pliCount || 0;
        out.outVideoFeedback.retransmittedPackets += s.retransmittedPacketsSent || 0;
      }
    } else if (s.type === 'remote-inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
      if (typeof s.roundTripTime === 'number') out.rtt[s.kind] = s.roundTripTime;
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      selectedPairId = s.selectedCandidatePairId;
    } else if (s.type === 'remote-candidate') {
      out.remoteCandidates.push({ address: s.address, port: s.port, protocol: s.protocol, type: s.candidateType });
    } else if (s.type === 'local-candidate') {
      out.localCandidates.push({ address: s.address, port: s.port, protocol: s.protocol, type: s.candidateType });
    }
  });
  if (selectedPairId && byId.has(selectedPairId)) {
    const p = byId.get(selectedPairId);
    const l = byId.get(p.localCandidateId) || {};
    const r = byId.get(p.remoteCandidateId) || {};
    out.pair = {
      id: p.id, state: p.state,
      local: `${l.address}:${l.port}`, remote: `${r.address}:${r.port}`,
      localUfrag: l.usernameFragment || null, remoteUfrag: r.usernameFragment || null,
    };
  }
  return out;
}

// Ufrags currently in force, read from the descriptions (stats do not always carry them).
export function ufrags(pc) {
  const pick = (d) => (d && d.sdp && (d.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1]) || null;
  return { local: pick(pc.currentLocalDescription), remote: pick(pc.currentRemoteDescription) };
}

// Polls the inbound packet counters of `kinds` every periodMs until stop(). A gap is the time
// from a rise of a counter to the last sample that still saw no rise before the next one:
// time in which the page itself was not sampling (a busy machine stalls the page too) is not
// a gap, only a sampler stall (maxSamplerStallMs). `clock` gives the page's time in ms.
// stop() resolves with {samples, errors, maxSamplerStallMs, spanMs, firstT,
// [kind]: {maxGapMs, maxGapAtMs, maxRawGapMs}}.
export function gapMonitor(pc, kinds, periodMs, clock) {
  const m = { stop: false, samples: 0, errors: 0, maxSamplerStall: 0, prevT: null, firstT: clock(), k: {} };
  for (const k of kinds) m.k[k] = { last: null, lastRise: null, lastFlat: null, maxGap: 0, maxGapAt: null, maxRawGap: 0 };
  // Ends a stall that began at lastRise: observed until lastFlat, raw until t.
  const close = (s, t) => {
    if (s.lastRise === null) return;
    if (s.lastFlat !== null && s.lastFlat - s.lastRise > s.maxGap) { s.maxGap = s.lastFlat - s.lastRise; s.maxGapAt = s.lastRise; }
    if (t !== null && t - s.lastRise > s.maxRawGap) s.maxRawGap = t - s.lastRise;
  };
  const done = (async () => {
    while (!m.stop) {
      try {
        const d = await digest(pc);
        const t = clock();
        m.samples++;
        if (m.prevT !== null && t - m.prevT > m.maxSamplerStall) m.maxSamplerStall = t - m.prevT;
        m.prevT = t;
        for (const k of kinds) {
          const s = m.k[k];
          const v = d[k].packetsReceived;
          if (s.last === null || v > s.last) {
            close(s, t);
            s.lastRise = t;
            s.lastFlat = null;
          } else {
            s.lastFlat = t;
          }
          s.last = v;
        }
      } catch { m.errors++; }
      await new Promise((r) => setTimeout(r, periodMs));
    }
  })();
  return {
    async stop() {
      m.stop = true;
      await done;
      const out = { samples: m.samples, errors: m.errors, maxSamplerStallMs: m.maxSamplerStall, spanMs: clock() - m.firstT, firstT: m.firstT };
      for (const k of kinds) {
        const s = m.k[k];
        close(s, null); // a stall still running at the end counts too
        out[k] = { maxGapMs: s.maxGap, maxGapAtMs: s.maxGapAt, maxRawGapMs: s.maxRawGap };
      }
      return out;
    },
  };
}
