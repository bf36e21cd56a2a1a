// The MRA meeting page: joins over the WebSocket protocol of
// docs/meeting-protocol.md, publishes camera and microphone on one peer
// connection and receives everyone else on another, one tile per participant.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const field of ['meeting', 'password', 'name']) {
  if (params.get(field)) $(field).value = params.get(field);
}

let ws = null;
let pub = null;
let sub = null;
let local = null;
let me = null;
let queue = Promise.resolve();
const tiles = new Map();
// Received track id → participant id (for the page's tests and stats).
const trackOwners = new Map();

// For tests and the console: the connections and the tiles.
window.mra = {
  get publish() { return pub; },
  get subscribe() { return sub; },
  trackOwners,
  tiles: () => [...tiles.values()].map((t) => ({
    id: t.info.id,
    name: t.info.name,
    kind: t.info.kind,
    audio_muted: !!t.info.audio_muted,
    speaking: t.el.classList.contains('speaking'),
  })),
};

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

$('join').addEventListener('submit', (event) => {
  event.preventDefault();
  join();
});
$('leave').addEventListener('click', () => leave());
$('mute-audio').addEventListener('click', () => toggle('audio', $('mute-audio'), 'Mute', 'Unmute'));
$('mute-video').addEventListener('click', () => toggle('video', $('mute-video'), 'Stop video', 'Start video'));

function join() {
  $('error').textContent = '';
  $('join-button').disabled = true;
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.onopen = () => send({
    type: 'join',
    meeting: $('meeting').value.trim(),
    password: $('password').value,
    name: $('name').value.trim(),
  });
  // One message at a time: an ICE candidate must not overtake its offer.
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    queue = queue.then(() => handle(message)).catch((e) => console.error(e));
  };
  ws.onclose = () => {
    $('join-button').disabled = false;
    if (me) {
      leave();
      $('error').textContent = 'Disconnected from the meeting';
    }
  };
}

async function handle(m) {
  switch (m.type) {
    case 'error':
      if (m.code === 'protocol' || m.code === 'bad_message') {
        console.warn('meeting service:', m.message);
      } else {
        // Refused, or the meeting ended for us: back to the form, with why.
        if (me) leave();
        $('error').textContent = m.message;
        ws.close();
      }
      break;
    case 'joined':
      me = m.id;
      $('join').hidden = true;
      $('meeting-view').hidden = false;
      $('meeting-name').textContent = m.meeting_name || $('meeting').value;
      createSubscriber();
      for (const p of m.participants) addTile(p);
      await publish();
      break;
    case 'publish_answer':
      await pub.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      break;
    case 'subscribe':
      await sub.setRemoteDescription({ type: 'offer', sdp: m.sdp });
      const answer = await sub.createAnswer();
      await sub.setLocalDescription(answer);
      send({ type: 'subscribe_answer', sdp: answer.sdp });
      break;
    case 'candidate':
      await (m.connection === 'publish' ? pub : sub).addIceCandidate(m.candidate);
      break;
    case 'participant_joined':
      addTile(m.participant);
      break;
    case 'participant_updated':
      updateTile(m.participant);
      break;
    case 'participant_left':
      removeTile(m.id);
      break;
    case 'active_speaker':
      for (const [id, t] of tiles) t.el.classList.toggle('speaking', id === m.participant);
      break;
  }
}

function trickle(pc, connection) {
  pc.onicecandidate = (event) => {
    if (event.candidate) send({ type: 'candidate', connection, candidate: event.candidate.toJSON() });
  };
}

function createSubscriber() {
  sub = new RTCPeerConnection();
  trickle(sub, 'subscribe');
  // The service puts each participant's tracks in a stream named by its id.
  sub.ontrack = (event) => {
    const stream = event.streams[0];
    if (stream) trackOwners.set(event.track.id, stream.id);
    const tile = stream && tiles.get(stream.id);
    if (!tile) return;
    if (event.track.kind === 'video') {
      tile.video.srcObject = stream;
    } else {
      tile.audio.srcObject = new MediaStream([event.track]);
    }
  };
}

async function publish() {
  local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  const self = addTile({ id: me, name: `${$('name').value.trim() || 'Guest'} (you)`, kind: 'browser' });
  self.video.srcObject = local;
  pub = new RTCPeerConnection();
  trickle(pub, 'publish');
  for (const track of local.getTracks()) {
    pub.addTransceiver(track, { direction: 'sendonly', streams: [local] });
  }
  const offer = await pub.createOffer();
  await pub.setLocalDescription(offer);
  send({ type: 'publish', sdp: offer.sdp });
}

function addTile(info) {
  if (tiles.has(info.id)) return tiles.get(info.id);
  const el = document.createElement('div');
  el.className = 'tile';
  el.dataset.participant = info.id;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  const audio = document.createElement('audio');
  audio.autoplay = true;
  const name = document.createElement('span');
  name.className = 'name';
  const kind = document.createElement('span');
  kind.className = 'kind';
  const muted = document.createElement('span');
  muted.className = 'muted';
  el.append(video, audio, name, kind, muted);
  $('tiles').append(el);
  const tile = { el, video, audio, name, kind, muted, info };
  tiles.set(info.id, tile);
  updateTile(info);
  return tile;
}

function updateTile(info) {
  const tile = tiles.get(info.id);
  if (!tile) return;
  tile.info = info;
  tile.name.textContent = info.name;
  tile.kind.textContent = info.kind === 'room' ? 'Room' : '';
  tile.kind.hidden = info.kind !== 'room';
  const off = [info.audio_muted && 'muted', info.video_muted && 'no video'].filter(Boolean);
  tile.muted.textContent = off.join(', ');
  tile.muted.hidden = off.length === 0;
}

function removeTile(id) {
  const tile = tiles.get(id);
  if (!tile) return;
  tile.el.remove();
  tiles.delete(id);
}

function toggle(kind, button, on, off) {
  if (!local) return;
  const track = kind === 'audio' ? local.getAudioTracks()[0] : local.getVideoTracks()[0];
  if (!track) return;
  track.enabled = !track.enabled;
  button.textContent = track.enabled ? on : off;
  button.classList.toggle('off', !track.enabled);
  const audio = local.getAudioTracks()[0];
  const video = local.getVideoTracks()[0];
  send({ type: 'mute', audio: !(audio && audio.enabled), video: !(video && video.enabled) });
}

function leave() {
  send({ type: 'leave' });
  me = null;
  for (const pc of [pub, sub]) if (pc) pc.close();
  pub = sub = null;
  if (local) local.getTracks().forEach((t) => t.stop());
  local = null;
  for (const id of [...tiles.keys()]) removeTile(id);
  if (ws) ws.close();
  $('meeting-view').hidden = true;
  $('join').hidden = false;
}
