// Drives headless Debian Chromium through the meeting page for the Rust
// end-to-end tests: one JSON command per stdin line, one JSON reply per
// stdout line. Each participant gets its own browser, so each can have its
// own fake microphone (a WAV file) — Chromium's fake camera draws a moving
// pattern with a frame counter.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const participants = new Map();

const commands = {
  // { id, url, audio? } → a browser on the meeting page.
  async open({ id, url, audio }) {
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
