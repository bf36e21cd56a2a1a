// Drives headless Debian Chromium through the meeting page for the Rust
// end-to-end tests: one JSON command per stdin line, one JSON reply per
// stdout line. Each participant gets its own browser, so each can have its
// own fake microphone (a WAV file) and camera (a Y4M file; without one,
// Chromium's fake camera draws a moving pattern with a frame counter).
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const participants = new Map();

const commands = {
  // { id, url, audio?, video? } → a browser on the meeting page.
  async open({ id, url, audio, video }) {
    const args = [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      // Inside a network namespace with only loopback, loopback is all there is.
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ];
    if (audio) args.push(`--use-file-for-fake-audio-capture=${audio}`);
    if (video) args.push(`--use-file-for-fake-video-capture=${video}`);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
    // The meeting page's certificate is self-signed unless configured.
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 }, ignoreHTTPSErrors: true });
    const log = [];
    page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(url);
    participants.set(id, { browser, page, log });
    return {};
  },
  // { id, meeting, password, name } → joined, or the error the page shows.
  async join({ id, meeting, password, name }) {
    const { page } = participants.get(id);
    await page.fill('#meeting', meeting);
    await page.fill('#password', password ?? '');
    await page.fill('#name', name);
    await page.click('#join-button');
    await page.waitForFunction(() =>
      !document.getElementById('meeting-view').hidden
      || document.getElementById('error').textContent !== '', null, { timeout: 15000 });
    const error = await page.textContent('#error');
    return { joined: error === '', error };
  },
  // { id } → the subscribe connection's inbound RTP streams, by participant.
  async stats({ id }) {
    const { page } = participants.get(id);
    return {
      inbound: await page.evaluate(async () => {
        const pc = window.mra.subscribe;
        if (!pc) return [];
        const owners = window.mra.trackOwners;
        const report = await pc.getStats();
        const rows = [];
        report.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          rows.push({
            kind: s.kind,
            participant: owners.get(s.trackIdentifier) ?? null,
            packetsReceived: s.packetsReceived ?? 0,
            audioLevel: s.audioLevel ?? 0,
            totalAudioEnergy: s.totalAudioEnergy ?? 0,
            framesDecoded: s.framesDecoded ?? 0,
          });
        });
        return rows;
      }),
    };
  },
  // { id, participant } → the mean colour of the middle of the
  // participant's video tile (a 32×32 square), and the picture's size.
  async pixel({ id, participant }) {
    const { page } = participants.get(id);
    return await page.evaluate((who) => {
      const video = document.querySelector(`.tile[data-participant="${who}"] video`);
      if (!video || !video.videoWidth) return { width: 0, height: 0 };
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const g = canvas.getContext('2d');
      g.drawImage(video, 0, 0);
      const x = Math.floor(canvas.width / 2) - 16;
      const y = Math.floor(canvas.height / 2) - 16;
      const { data } = g.getImageData(x, y, 32, 32);
      const sum = [0, 0, 0];
      for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
      const n = data.length / 4;
      return { width: canvas.width, height: canvas.height, rgb: sum.map((s) => Math.round(s / n)) };
    }, participant);
  },
  // { id, participant } → starts timing the tile's picture: on each frame
  // the page presents, the middle pixel's dominant channel (red, green,
  // blue); each change is kept with the wall-clock time (ms) the frame
  // was handed to the compositor. `changes` returns them.
  async watch({ id, participant }) {
    const { page } = participants.get(id);
    await page.evaluate((who) => {
      const video = document.querySelector(`.tile[data-participant="${who}"] video`);
      const canvas = document.createElement('canvas');
      canvas.width = 8;
      canvas.height = 8;
      const g = canvas.getContext('2d', { willReadFrequently: true });
      window.mraChanges = [];
      let last = null;
      const onFrame = (now, frame) => {
        const [w, h] = [video.videoWidth, video.videoHeight];
        g.drawImage(video, w / 2 - 4, h / 2 - 4, 8, 8, 0, 0, 8, 8);
        const d = g.getImageData(4, 4, 1, 1).data;
        const colour = ['red', 'green', 'blue'][[0, 1, 2].reduce((m, c) => (d[c] > d[m] ? c : m), 0)];
        if (colour !== last) {
          window.mraChanges.push({ colour, at: performance.timeOrigin + (frame.presentationTime ?? now) });
          last = colour;
        }
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }, participant);
    return {};
  },
  // { id } → the changes `watch` saw so far.
  async changes({ id }) {
    const { page } = participants.get(id);
    return { changes: await page.evaluate(() => window.mraChanges ?? []) };
  },
  // { id } → the tiles on the page.
  async tiles({ id }) {
    const { page } = participants.get(id);
    return { tiles: await page.evaluate(() => window.mra.tiles()) };
  },
  // { id, selector } → clicks it.
  async click({ id, selector }) {
    await participants.get(id).page.click(selector);
    return {};
  },
  // { id, path } → a PNG of the page.
  async screenshot({ id, path }) {
    await participants.get(id).page.screenshot({ path });
    return {};
  },
  // { id } → the page's console messages so far.
  async log({ id }) {
    return { log: participants.get(id).log };
  },
  async close({ id }) {
    const p = participants.get(id);
    participants.delete(id);
    if (p) await p.browser.close();
    return {};
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  let reply;
  try {
    const request = JSON.parse(line);
    reply = { ok: true, ...(await commands[request.cmd](request)) };
  } catch (e) {
    reply = { ok: false, error: String(e && e.stack || e) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
for (const { browser } of participants.values()) await browser.close();
