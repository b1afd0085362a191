// Real SDP from Chromium for the node-side signalling clients (lib/vcraw.mjs): offers and
// answers made by RTCPeerConnections that send the fake capture tracks. No candidates are
// exchanged, so these PeerConnections never connect; they exist only so the server sees
// the SDP a browser really sends. Each one is kept under an id until close(id).

const pcs = new Map();
let nextId = 1;
let media = null;

async function tracks() {
  if (!media) media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  return { audio: media.getAudioTracks()[0], video: media.getVideoTracks()[0] };
}

// kinds: {audio, video: true (send+receive) | 'recvonly' | false, data: bool}.
export async function offer({ audio = true, video = true, data = false } = {}) {
  const t = await tracks();
  const pc = new RTCPeerConnection({ iceServers: [] });
  const stream = new MediaStream();
  for (const [kind, how] of [['audio', audio], ['video', video]]) {
    if (how === 'recvonly') pc.addTransceiver(kind, { direction: 'recvonly' });
    else if (how) pc.addTrack(t[kind], stream);
  }
  if (data) pc.createDataChannel('JanusDataChannel');
  const o = await pc.createOffer();
  await pc.setLocalDescription(o);
  const id = nextId++;
  pcs.set(id, pc);
  return { id, sdp: o.sdp };
}

// Answers a server offer, sending our tracks on every offered audio/video m-line.
export async function answer(offerSdp) {
  const t = await tracks();
  const pc = new RTCPeerConnection({ iceServers: [] });
  await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
  for (const tr of pc.getTransceivers()) {
    const kind = tr.receiver.track.kind;
    if (t[kind]) {
      await tr.sender.replaceTrack(t[kind]);
      tr.direction = 'sendrecv';
    }
  }
  const a = await pc.createAnswer();
  await pc.setLocalDescription(a);
  const id = nextId++;
  pcs.set(id, pc);
  return { id, sdp: a.sdp };
}

export function close(id) {
  const pc = pcs.get(id);
  if (pc) { pc.close(); pcs.delete(id); }
}

export function closeAll() {
  for (const pc of pcs.values()) pc.close();
  pcs.clear();
}
