// screens/call.mjs: the call in progress, for either side. Ringing ("Calling…"), then the
// remote picture and sound, the elapsed time and the live cost from the server's billing
// events (docs/flutter.md section 8: elapsed_ms, charged, rate, balance / earned,
// affordable_ms), mute, camera on/off, upgrade audio to video, hang up; for the caller the
// low-balance prompt with a top-up that works without leaving the call.
//
// Connection trouble is shown, not hidden: "reconnecting" while the signalling connection is
// being re-established (the media, on its own path, usually goes on) or while ICE reports the
// media path disconnected.
//
// The elapsed time is the server's elapsed_ms advanced locally between billing events (they
// come at least every 10 s), so it ticks every second but never drifts from what is billed.

import { calls, onStatus } from '../connection.mjs';
import { h, credits, clock, announce } from '../ui.mjs';
import { buyPanel, creditPackages } from './wallet.mjs';

const STATE_TEXT = { calling: 'Calling…', ringing: 'Ringing…', connecting: 'Connecting…', active: 'In call', ended: 'Call ended' };

export const callScreen = {
  title: 'Call',
  render(el) {
    const cs = calls();
    const c = cs && cs.current;
    if (!c) {
      el.append(h('section', { class: 'card' }, h('h2', {}, 'No call in progress'),
        h('p', {}, h('a', { href: '#/calls' }, 'Your calls'))));
      return undefined;
    }
    const remote = h('video', { id: 'call-remote', autoplay: true, playsInline: true, 'aria-label': `${c.peer.display_name}’s video` });
    const local = h('video', { id: 'call-local', autoplay: true, playsInline: true, muted: true, 'aria-label': 'Your camera' });
    local.srcObject = c.local;
    remote.srcObject = c.remote;
    const state = h('p', { id: 'call-state', class: 'call-state', role: 'status' });
    const elapsed = h('span', { id: 'call-elapsed', class: 'big' }, '0:00');
    const cost = h('span', { id: 'call-cost', class: 'big' }, '—');
    const costLabel = h('span', { class: 'muted small' }, c.role === 'host' ? 'earned' : 'charged');
    const rate = h('span', { id: 'call-rate', class: 'muted small' });
    const left = h('span', { id: 'call-left', class: 'muted small' });
    // Toggle buttons keep their label; aria-pressed says the state (a changing label too
    // would announce the opposite of what is pressed).
    const mute = h('button', { type: 'button', id: 'call-mute', class: 'secondary', 'aria-pressed': 'false' }, 'Mute');
    const camera = h('button', { type: 'button', id: 'call-camera', class: 'secondary', 'aria-pressed': 'false' }, 'Hide camera');
    const upgrade = h('button', { type: 'button', id: 'call-upgrade', class: 'secondary' }, 'Turn on video');
    const hangup = h('button', { type: 'button', id: 'call-hangup', class: 'danger' }, 'Hang up');
    const error = h('p', { class: 'error', role: 'alert' });
    const low = h('div', { id: 'low-balance', class: 'low-balance', role: 'alert', hidden: true });
    let tick = null;        // {elapsed, at}: the last billing event's elapsed_ms and when it came
    let signalling = 'online';
    const speaker = 'setSinkId' in HTMLMediaElement.prototype
      ? h('select', { id: 'call-speaker', hidden: true, onchange: (e) => remote.setSinkId(e.target.value).catch((err) => { error.textContent = `Cannot use that speaker: ${err.message}`; }) })
      : null;
    const speakerLabel = speaker ? h('label', { class: 'inline', hidden: true }, 'Speaker ', speaker) : null;
    // Output choice only where the browser can route audio and there is a choice to make.
    if (speaker) {
      navigator.mediaDevices.enumerateDevices().then((devices) => {
        const outs = devices.filter((d) => d.kind === 'audiooutput');
        if (outs.length < 2) return;
        speaker.replaceChildren(...outs.map((d, i) => h('option', { value: d.deviceId }, d.label || `Speaker ${i + 1}`)));
        speaker.hidden = false;
        speakerLabel.hidden = false;
      }).catch(() => {});
    }

    const draw = (cur) => {
      const pc = cs.handle && cs.handle.pc;
      const mediaLost = pc && (pc.iceConnectionState === 'disconnected' || pc.iceConnectionState === 'failed');
      const trouble = signalling !== 'online' ? ' · reconnecting to the server…' : mediaLost ? ' · connection lost, reconnecting…' : '';
      state.textContent = `${STATE_TEXT[cur.state] || cur.state}${cur.upgrading ? ' · adding video…' : ''}${trouble}`;
      state.classList.toggle('warn', Boolean(trouble));
      el.querySelector('.call').dataset.state = cur.state;
      mute.setAttribute('aria-pressed', String(cur.muted));
      const hasVideo = cur.local.getVideoTracks().length > 0;
      camera.hidden = !hasVideo;
      camera.setAttribute('aria-pressed', String(!cur.camera));
      upgrade.hidden = hasVideo || cur.state !== 'active';
      local.hidden = !hasVideo;
      const b = cur.billing;
      if (b) {
        cost.textContent = String(cur.role === 'host' ? b.earned : b.charged);
        cost.dataset.value = cur.role === 'host' ? b.earned : b.charged;
        rate.textContent = `${b.kind} · ${credits(b.rate)}/min · minute ${b.minutes_charged}`;
        left.textContent = cur.role === 'host' ? '' : `balance ${credits(b.balance)} · lasts ${clock(b.affordable_ms)}`;
      }
    };
    const redrawClock = () => {
      const cur = cs.current;
      if (!cur) return;
      if (tick) elapsed.textContent = clock(tick.elapsed + (Date.now() - tick.at));
      else if (cur.connectedAt) elapsed.textContent = clock(Date.now() - cur.connectedAt);
      elapsed.dataset.ms = tick ? tick.elapsed : 0;
    };

    const showLow = (lb) => {
      low.hidden = false;
      low.replaceChildren(h('p', {}, h('strong', {}, 'Low balance. '),
        `The call ends in ${Math.ceil(lb.ends_in_ms / 1000)} s unless you add at least ${credits(lb.needed)}.`),
      buyPanel(() => { low.hidden = true; announce('Credits added: the call goes on.'); }, { idPrefix: 'topup' }));
    };

    mute.addEventListener('click', () => cs.setMuted(!cs.current.muted).catch((e) => { error.textContent = e.message; }));
    camera.addEventListener('click', () => cs.setCamera(!cs.current.camera).catch((e) => { error.textContent = e.message; }));
    upgrade.addEventListener('click', async () => {
      upgrade.disabled = true;
      try { await cs.upgradeToVideo(); } catch (e) { error.textContent = e.message; } finally { upgrade.disabled = false; }
    });
    hangup.addEventListener('click', () => { hangup.disabled = true; cs.hangup(); });

    el.append(h('section', { class: 'call card', 'aria-labelledby': 'call-title' },
      h('div', { class: 'call-head' }, h('h2', { id: 'call-title' }, c.peer.display_name), state),
      h('div', { class: 'stage' }, remote, local),
      h('div', { class: 'ticker', 'aria-live': 'off' },
        h('div', {}, elapsed, h('span', { class: 'muted small' }, 'elapsed')),
        h('div', {}, cost, costLabel),
        h('div', { class: 'ticker-more' }, rate, left)),
      low,
      h('div', { class: 'controls call-controls' }, mute, camera, upgrade, speakerLabel, hangup),
      error));

    const offs = [
      onStatus((s) => { signalling = s; if (cs.current) draw(cs.current); }),
      cs.on('state', (cur) => draw(cur)),
      cs.on('billing', (b) => { tick = { elapsed: b.elapsed_ms, at: Date.now() }; redrawClock(); }),
      cs.on('low_balance', (lb) => { if (cs.current.role === 'caller') showLow(lb); }),
      // Set again so the element picks up a track added later (the upgrade to video).
      cs.on('remote', (stream) => { remote.srcObject = null; remote.srcObject = stream; }),
    ];
    draw(c);
    if (c.role === 'caller') creditPackages().catch(() => {});
    if (c.lowBalance && c.role === 'caller') showLow(c.lowBalance);
    // ICE state changes have no event of ours: looked at with the clock.
    const timer = setInterval(() => { redrawClock(); if (cs.current) draw(cs.current); }, 1000);
    return () => { clearInterval(timer); for (const off of offs) off(); };
  },
};
