// screens/incoming.mjs: the ringing dialog (#incoming in index.html), on every device of a
// host where the app is open. Accept answers the call here; Decline refuses it for every
// device; when another device answers first, this one stops ringing and says so.

import { onCalls } from '../connection.mjs';
import { $, announce } from '../ui.mjs';

let service = null;
let lastFocus = null;
let ringer = null;

// A ring made with Web Audio (no sound file to ship): two short tones every 2 s. Browsers
// allow it once the user has interacted with the page, which signing in did.
function startRinging() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx || ringer) return;
  const ctx = new Ctx();
  const burst = () => {
    for (const [freq, at] of [[440, 0], [480, 0]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.08, ctx.currentTime + at + 0.05);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + at + 0.9);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 1);
    }
  };
  burst();
  ringer = { ctx, timer: setInterval(burst, 2000) };
}

function stopRinging() {
  if (!ringer) return;
  clearInterval(ringer.timer);
  ringer.ctx.close().catch(() => {});
  ringer = null;
}

function show(inc) {
  lastFocus = document.activeElement;
  $('incoming-what').textContent = `${inc.caller.display_name || 'A caller'} is calling you.`;
  $('incoming-error').textContent = '';
  $('incoming').hidden = false;
  $('incoming').dataset.callId = inc.call_id;
  $('incoming-accept').disabled = false;
  $('incoming-decline').disabled = false;
  $('incoming-accept').focus();
  startRinging();
  announce(`Incoming call from ${inc.caller.display_name}`);
}

function hide(message) {
  stopRinging();
  if ($('incoming').hidden) return;
  $('incoming').hidden = true;
  delete $('incoming').dataset.callId;
  if (message) announce(message);
  if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
}

const ENDED_TEXT = {
  answered_elsewhere: 'The call was answered on another of your devices.',
  cancelled: 'The caller hung up.',
  no_answer: 'Missed call.',
  declined: 'The call was declined.',
};

export function bindIncoming() {
  onCalls((cs) => {
    service = cs;
    cs.on('incoming', show);
    cs.on('ended', (e) => { if (e.ringing) hide(ENDED_TEXT[e.reason] || 'The call ended.'); });
    cs.on('state', (c) => { if (c.state !== 'ended') hide(''); });
  });
  $('incoming-accept').addEventListener('click', async () => {
    $('incoming-accept').disabled = true;
    $('incoming-decline').disabled = true;
    try {
      await service.accept();
      hide('');
    } catch (e) {
      $('incoming-error').textContent = e.message;
      $('incoming-decline').disabled = false;
    }
  });
  $('incoming-decline').addEventListener('click', async () => {
    await service.decline();
    hide('Call declined.');
  });
  // Keeps keyboard focus inside the dialog while it is open (it is modal).
  $('incoming').addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const items = [$('incoming-decline'), $('incoming-accept')].filter((b) => !b.disabled);
    if (!items.length) return;
    const i = items.indexOf(document.activeElement);
    e.preventDefault();
    items[(i + (e.shiftKey ? items.length - 1 : 1)) % items.length].focus();
  });
}
