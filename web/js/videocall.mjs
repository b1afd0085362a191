// videocall.mjs: paid 1:1 calls over janus.plugin.videocall (parley's calls plugin).
//
// Contract: new CallService(session, user); await start() (attach + register the user's id);
// on(name, fn) for 'incoming' ({call_id, caller}), 'state' (the call object), 'billing',
// 'low_balance', 'media_state', 'ended' ({call_id, reason, role}), 'remote' (MediaStream);
// call(hostId, kind), accept(), decline(), hangup(), setMuted(bool), setCamera(bool),
// upgradeToVideo(); current (the call or null); stats() (getStats digest of the call's
// PeerConnection); stop().
//
// The protocol, as docs/flutter.md section 7 describes it:
//   call + offer -> 'calling' {call_id}; the host's devices get 'incomingcall' + offer;
//   accept + answer -> both get 'accepted' (the caller's carries the answer);
//   set + offer (upgrade) -> the other side gets 'update' + offer, answers with set + answer,
//   the offerer gets 'update' + answer; 'hangup' {reason, call_id} ends it; billing events
//   ('billing', 'low_balance') arrive as results of their own.
// A call's state: 'calling' (caller, ringing) | 'ringing' (host, on this device) |
// 'connecting' (accepted, media not up yet) | 'active' | 'ended'.
//
// Local media belongs to this module while a call lasts (stopped at its end).

const PLUGIN = 'janus.plugin.videocall';

function sdpHasVideo(sdp) { return /\r?\nm=video [1-9]/.test(sdp || ''); }

// The other side sends video in this offer (not only offers to receive it): a video call.
function offerSendsVideo(sdp) {
  const section = (sdp || '').split(/\r?\nm=/).find((m) => /^video [1-9]/.test(m));
  return Boolean(section) && /\na=(sendrecv|sendonly)/.test(section);
}

export class CallService {
  constructor(session, user) {
    this.session = session;
    this.user = user;
    this.handle = null;
    this.current = null;
    this.incoming = null;        // {call_id, caller, jsep} while this device rings
    this.iceTimer = null;
    this.listeners = new Map();
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  emit(name, arg) { for (const fn of this.listeners.get(name) || []) fn(arg); }

  async start() {
    const h = await this.session.attach(PLUGIN);
    this.handle = h;
    h.onMessage = (data, jsep) => this._onEvent(data, jsep);
    h.onRemoteTrack = (track, streams) => this._onTrack(track, streams);
    h.onIceState = (state) => this._onIce(state);
    h.onWebrtcState = (kind) => {
      if (kind === 'webrtcup' && this.current && this.current.state === 'connecting') this._update({ state: 'active', connectedAt: Date.now() });
    };
    await this._request({ request: 'register', username: String(this.user.id) });
  }

  // A request whose synchronous reply is handled like the same event pushed later.
  async _request(body, jsep = null) {
    const ev = await this.handle.message(body, jsep);
    if (ev.msg.janus === 'success') this._onEvent(ev.data, ev.jsep);
    return ev.data.result || {};
  }

  _update(fields) {
    if (!this.current) return;
    Object.assign(this.current, fields);
    this.emit('state', this.current);
  }

  async _media(kind) {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: kind === 'video' });
    } catch (e) {
      const why = e.name === 'NotAllowedError' ? 'Camera or microphone access was denied. Allow it in the browser and try again.'
        : e.name === 'NotFoundError' ? 'No microphone or camera was found.' : `Cannot open camera or microphone: ${e.message}`;
      throw new Error(why);
    }
  }

  async call(host, kind) {
    if (this.current) throw new Error('A call is already in progress.');
    const stream = await this._media(kind);
    this.current = {
      id: null, role: 'caller', peer: { id: host.id, display_name: host.display_name }, kind, state: 'calling',
      local: stream, remote: new MediaStream(), muted: false, camera: kind === 'video', billing: null, lowBalance: null,
    };
    this.emit('state', this.current);
    try {
      const pc = this.handle.createPeerConnection();
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      const offer = await this.handle.createOffer();
      const r = await this._request({ request: 'call', username: String(host.id) }, offer);
      if (r.call_id && this.current) this._update({ id: r.call_id });
    } catch (e) {
      this._finish(this.current && this.current.id, e.code === 502 ? 'insufficient_balance' : 'failed', e);
      throw e.code === 502 ? new Error('Your balance does not cover the first minute. Buy credits and call again.')
        : e.code === 480 ? new Error('You are already in a call.') : e;
    }
  }

  async accept() {
    const inc = this.incoming;
    if (!inc) return;
    const kind = offerSendsVideo(inc.jsep.sdp) ? 'video' : 'audio';
    // A refused camera leaves the call ringing here, so Decline still works.
    const stream = await this._media(kind);
    if (this.incoming !== inc) { for (const t of stream.getTracks()) t.stop(); return; }
    this.incoming = null;
    this.current = {
      id: inc.call_id, role: 'host', peer: inc.caller, kind, state: 'connecting',
      local: stream, remote: new MediaStream(), muted: false, camera: kind === 'video', billing: null, lowBalance: null,
    };
    this.emit('state', this.current);
    try {
      const answer = await this.handle.answer(inc.jsep, { stream });
      await this._request({ request: 'accept' }, answer);
    } catch (e) {
      this._finish(inc.call_id, 'failed', e);
      throw e;
    }
  }

  // A ringing device's hangup declines the call for the host (every device stops ringing).
  async decline() {
    const inc = this.incoming;
    if (!inc) return;
    this.incoming = null;
    this.handle.closePeerConnection();
    try { await this._request({ request: 'hangup', reason: 'declined' }); } catch { /* already over */ }
    this.emit('ended', { call_id: inc.call_id, reason: 'declined', role: 'host', local: true });
  }

  async hangup() {
    if (!this.current) return;
    const id = this.current.id;
    try { await this._request({ request: 'hangup' }); } catch { /* the server may have ended it first */ }
    this._finish(id, 'hangup');
  }

  async setMuted(muted) {
    const c = this.current;
    if (!c) return;
    for (const t of c.local.getAudioTracks()) t.enabled = !muted;
    this._update({ muted });
    await this._request({ request: 'set', audio: !muted });
  }

  async setCamera(on) {
    const c = this.current;
    if (!c) return;
    for (const t of c.local.getVideoTracks()) t.enabled = on;
    this._update({ camera: on });
    await this._request({ request: 'set', video: on });
  }

  // Adds our camera with a new offer (set + jsep); audio keeps flowing meanwhile. The answer
  // comes back as 'update'; billing moves to the video rate from the next minute.
  async upgradeToVideo() {
    const c = this.current;
    if (!c || c.state !== 'active' || c.local.getVideoTracks().length) return;
    const cam = await this._media('video');
    for (const t of cam.getAudioTracks()) t.stop();
    const track = cam.getVideoTracks()[0];
    c.local.addTrack(track);
    const pc = this.handle.pc;
    const slot = pc.getTransceivers().find((t) => t.receiver.track && t.receiver.track.kind === 'video' && !t.sender.track);
    if (slot) {
      await slot.sender.replaceTrack(track);
      if (slot.sender.setStreams) slot.sender.setStreams(c.local);
      slot.direction = 'sendrecv';
    } else {
      pc.addTrack(track, c.local);
    }
    this._update({ camera: true, kind: 'video', upgrading: true });
    const offer = await this.handle.createOffer();
    await this._request({ request: 'set' }, offer);
  }

  // The media path was lost (network change, NAT rebinding): after a few seconds without it
  // coming back by itself, an ICE restart on the same PeerConnection (docs/flutter.md 7.8);
  // the other side's connection is left alone. The server ends the call if nothing comes
  // back within its grace.
  _onIce(state) {
    const c = this.current;
    clearTimeout(this.iceTimer);
    if (!c || c.state !== 'active') return;
    this.emit('state', c);
    if (state === 'failed') this._restartIce();
    else if (state === 'disconnected') this.iceTimer = setTimeout(() => this._restartIce(), 3000);
  }

  async _restartIce() {
    const c = this.current;
    const pc = this.handle.pc;
    if (!c || !pc || c.restarting || pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') return;
    c.restarting = true;
    try {
      const offer = await this.handle.createOffer({ iceRestart: true });
      await this._request({ request: 'set' }, offer);
    } catch { /* a renegotiation was in progress, or the call is ending: nothing to add */ }
    c.restarting = false;
  }

  async _answerUpdate(offer) {
    const c = this.current;
    if (!c) return;
    // The other side added video: we answer with our camera too, so both see each other.
    if (sdpHasVideo(offer.sdp) && !c.local.getVideoTracks().length) {
      try {
        const cam = await this._media('video');
        for (const t of cam.getAudioTracks()) t.stop();
        c.local.addTrack(cam.getVideoTracks()[0]);
        this._update({ camera: true });
      } catch { /* answer without a camera: we still see them */ }
    }
    const answer = await this.handle.answer(offer, { stream: c.local });
    this._update({ kind: sdpHasVideo(offer.sdp) ? 'video' : c.kind });
    await this._request({ request: 'set' }, answer);
  }

  _onTrack(track) {
    const c = this.current;
    if (!c) return;
    if (!c.remote.getTracks().includes(track)) c.remote.addTrack(track);
    this.emit('remote', c.remote);
  }

  _onEvent(data, jsep) {
    const r = data.result;
    if (!r || typeof r !== 'object') return;
    const c = this.current;
    switch (r.event) {
      case 'incomingcall':
        if (c) return;    // the server refuses busy hosts; a second ring on one handle is not expected
        this.incoming = { call_id: r.call_id, caller: r.caller || { id: Number(r.username), display_name: r.username }, jsep };
        this.emit('incoming', this.incoming);
        break;
      case 'calling':
        if (c && r.call_id) this._update({ id: r.call_id });
        break;
      case 'accepted':
        if (!c) return;
        if (jsep && jsep.type === 'answer') {
          this.handle.setRemote(jsep).catch((e) => this._fail(e));
        }
        this._update({ state: c.state === 'active' ? 'active' : 'connecting', id: c.id || r.call_id });
        break;
      case 'update':
        if (!c || !jsep) return;
        if (jsep.type === 'answer') this.handle.setRemote(jsep).then(() => this._update({ upgrading: false })).catch((e) => this._fail(e));
        else this._answerUpdate(jsep).catch((e) => this._fail(e));
        break;
      case 'billing':
        if (c && (!r.call_id || r.call_id === c.id)) { this._update({ billing: r, kind: r.kind || c.kind }); this.emit('billing', r); }
        break;
      case 'low_balance':
        if (c) { this._update({ lowBalance: r }); this.emit('low_balance', r); }
        break;
      case 'media_state':
        if (c) { this._update({ peerAudio: r.audio, peerVideo: r.video }); this.emit('media_state', r); }
        break;
      case 'hangup':
        this._onHangup(r);
        break;
      default:
        break;
    }
  }

  _onHangup(r) {
    if (this.incoming && (!r.call_id || r.call_id === this.incoming.call_id)) {
      const inc = this.incoming;
      this.incoming = null;
      this.handle.closePeerConnection();
      this.emit('ended', { call_id: inc.call_id, reason: r.reason || 'hangup', role: 'host', ringing: true });
      return;
    }
    if (this.current) this._finish(this.current.id || r.call_id, r.reason || 'hangup');
  }

  _fail(e) {
    if (this.current) this._finish(this.current.id, 'failed', e);
  }

  _finish(callId, reason, error = null) {
    clearTimeout(this.iceTimer);
    const c = this.current;
    this.current = null;
    if (!c) return;
    for (const t of c.local.getTracks()) t.stop();
    this.handle.closePeerConnection();
    c.state = 'ended';
    this.emit('ended', { call_id: callId, reason, role: c.role, error: error ? error.message : null, billing: c.billing, peer: c.peer });
  }

  sessionLost(detail) {
    if (this.incoming) { const inc = this.incoming; this.incoming = null; this.emit('ended', { call_id: inc.call_id, reason: 'disconnected', role: 'host', ringing: true }); }
    if (this.current) this._finish(this.current.id, 'disconnected', new Error(detail));
  }

  async stats() {
    const pc = this.handle && this.handle.pc;
    if (!pc) return null;
    const d = { audio: { packets: 0, bytes: 0 }, video: { packets: 0, bytes: 0, frames: 0, w: 0, h: 0 } };
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp' || (s.kind !== 'audio' && s.kind !== 'video')) return;
      const k = d[s.kind];
      k.packets += s.packetsReceived || 0;
      k.bytes += s.bytesReceived || 0;
      if (s.kind === 'video') { k.frames += s.framesDecoded || 0; k.w = s.frameWidth || k.w; k.h = s.frameHeight || k.h; }
    });
    return d;
  }

  async stop() {
    if (this.current) await this.hangup();
    if (this.handle) await this.handle.detach();
  }
}
