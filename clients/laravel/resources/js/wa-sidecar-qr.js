// wa-sidecar QR component: what the workspace admin sees while linking WhatsApp.
//
// A plain ES module, no build step: import it from the page (publish it with
//   php artisan vendor:publish --tag=wa-sidecar-assets   → public/vendor/wa-sidecar/)
// and give it a Laravel Echo instance and an element:
//
//   import { mountSessionQr } from '/vendor/wa-sidecar/wa-sidecar-qr.js';
//   mountSessionQr(window.Echo, document.getElementById('whatsapp'), { workspace: 'acme', session: 'main' });
//
// It listens on the private channel of the workspace (".session.qr", ".session.status", broadcast
// by wa-sidecar/laravel or by the sidecar's own [broadcast]) and renders the QR from `raw` as an
// SVG (the QR text is opaque and holds key material: it never leaves the page) and the status.
// The element gets data-state (the session's state, or "refused" when the channel is refused)
// and data-channel ("subscribed" or "refused").
//
// The QR encoder below is a compact QR Code Model 2 writer: byte mode, error correction level M,
// versions 1-40, mask chosen by the usual penalty rules.

const EC_PER_BLOCK_M = [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
  26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28];
const BLOCKS_M = [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21,
  23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49];
const FORMAT_BITS_M = 0; // level M in the format information

// Codewords a version holds (data and error correction together).
function rawCodewords(version) {
  let modules = (16 * version + 128) * version + 64;
  if (version >= 2) {
    const align = Math.floor(version / 7) + 2;
    modules -= (25 * align - 10) * align - 55;
    if (version >= 7) modules -= 36;
  }
  return Math.floor(modules / 8);
}

function dataCodewords(version) {
  return rawCodewords(version) - EC_PER_BLOCK_M[version] * BLOCKS_M[version];
}

// GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
function gfMul(a, b) {
  let r = 0;
  for (let i = 7; i >= 0; i--) {
    r = (r << 1) ^ ((r >>> 7) * 0x11d);
    r ^= ((b >>> i) & 1) * a;
  }
  return r & 0xff;
}

function rsGenerator(degree) {
  const poly = new Array(degree).fill(0);
  poly[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      poly[j] = gfMul(poly[j], root);
      if (j + 1 < degree) poly[j] ^= poly[j + 1];
    }
    root = gfMul(root, 0x02);
  }
  return poly;
}

function rsRemainder(data, generator) {
  const rem = new Array(generator.length).fill(0);
  for (const byte of data) {
    const factor = byte ^ rem.shift();
    rem.push(0);
    generator.forEach((coef, i) => { rem[i] ^= gfMul(coef, factor); });
  }
  return rem;
}

// The bit stream of `bytes` in byte mode, padded to the version's data capacity.
function dataStream(bytes, version) {
  const bits = [];
  const push = (value, count) => { for (let i = count - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
  push(0b0100, 4);
  push(bytes.length, version < 10 ? 8 : 16);
  bytes.forEach((b) => push(b, 8));
  const capacity = dataCodewords(version) * 8;
  push(0, Math.min(4, capacity - bits.length));
  push(0, (8 - (bits.length % 8)) % 8);
  for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) push(pad, 8);
  const out = [];
  for (let i = 0; i < bits.length; i += 8) out.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  return out;
}

// Data split into blocks, error correction added, codewords interleaved.
function interleave(data, version) {
  const blocks = BLOCKS_M[version];
  const ecLen = EC_PER_BLOCK_M[version];
  const total = rawCodewords(version);
  const shortLen = Math.floor(total / blocks) - ecLen;
  const longBlocks = total % blocks;
  const generator = rsGenerator(ecLen);
  const dataBlocks = [];
  const ecBlocks = [];
  let at = 0;
  for (let b = 0; b < blocks; b++) {
    const len = shortLen + (b >= blocks - longBlocks ? 1 : 0);
    const block = data.slice(at, at + len);
    at += len;
    dataBlocks.push(block);
    ecBlocks.push(rsRemainder(block, generator));
  }
  const out = [];
  for (let i = 0; i <= shortLen; i++) dataBlocks.forEach((blk) => { if (i < blk.length) out.push(blk[i]); });
  for (let i = 0; i < ecLen; i++) ecBlocks.forEach((blk) => out.push(blk[i]));
  return out;
}

function alignmentPositions(version) {
  if (version === 1) return [];
  const count = Math.floor(version / 7) + 2;
  const size = version * 4 + 17;
  const step = version === 32 ? 26 : Math.ceil((version * 4 + 4) / (count * 2 - 2)) * 2;
  const out = [6];
  for (let pos = size - 7; out.length < count; pos -= step) out.splice(1, 0, pos);
  return out;
}

const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

class Matrix {
  constructor(version) {
    this.version = version;
    this.size = version * 4 + 17;
    this.dark = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    this.fixed = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
  }

  set(x, y, dark) {
    this.dark[y][x] = dark;
    this.fixed[y][x] = true;
  }

  drawFunctionPatterns() {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [[3, 3], [n - 4, 3], [3, n - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          const d = Math.max(Math.abs(dx), Math.abs(dy));
          if (x >= 0 && x < n && y >= 0 && y < n) this.set(x, y, d !== 2 && d !== 4);
        }
      }
    }
    const pos = alignmentPositions(this.version);
    pos.forEach((ax, i) => pos.forEach((ay, j) => {
      const corner = (i === 0 && j === 0) || (i === 0 && j === pos.length - 1) || (i === pos.length - 1 && j === 0);
      if (corner) return;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) this.set(ax + dx, ay + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }));
    this.drawFormat(0); // reserves the area; redrawn with the chosen mask
    if (this.version >= 7) {
      let rem = this.version;
      for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
      const bits = (this.version << 12) | rem;
      for (let i = 0; i < 18; i++) {
        const bit = ((bits >>> i) & 1) === 1;
        const a = n - 11 + (i % 3);
        const b = Math.floor(i / 3);
        this.set(a, b, bit);
        this.set(b, a, bit);
      }
    }
  }

  drawFormat(mask) {
    const n = this.size;
    const data = (FORMAT_BITS_M << 3) | mask;
    let rem = data;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const bits = ((data << 10) | rem) ^ 0x5412;
    const bit = (i) => ((bits >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i++) this.set(8, i, bit(i));
    this.set(8, 7, bit(6));
    this.set(8, 8, bit(7));
    this.set(7, 8, bit(8));
    for (let i = 9; i < 15; i++) this.set(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i++) this.set(n - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i++) this.set(8, n - 15 + i, bit(i));
    this.set(8, n - 8, true);
  }

  drawCodewords(codewords) {
    const n = this.size;
    let i = 0;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      const upward = ((right + 1) & 2) === 0;
      for (let vert = 0; vert < n; vert++) {
        const y = upward ? n - 1 - vert : vert;
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          if (this.fixed[y][x]) continue;
          this.dark[y][x] = i < codewords.length * 8 && ((codewords[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
          i++;
        }
      }
    }
  }

  applyMask(mask) {
    const fn = MASKS[mask];
    for (let y = 0; y < this.size; y++) {
      for (let x = 0; x < this.size; x++) if (!this.fixed[y][x] && fn(x, y)) this.dark[y][x] = !this.dark[y][x];
    }
  }

  penalty() {
    const n = this.size;
    const d = this.dark;
    let score = 0;
    const line = (get) => {
      let run = 1;
      for (let i = 1; i <= n; i++) {
        if (i < n && get(i) === get(i - 1)) { run++; continue; }
        if (run >= 5) score += run - 2;
        run = 1;
      }
      for (let i = 0; i + 11 <= n; i++) {
        const seq = Array.from({ length: 11 }, (_, k) => (get(i + k) ? 1 : 0)).join('');
        if (seq === '10111010000' || seq === '00001011101') score += 40;
      }
    };
    for (let k = 0; k < n; k++) {
      line((i) => d[k][i]);
      line((i) => d[i][k]);
    }
    let darkCount = 0;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (d[y][x]) darkCount++;
        if (x + 1 < n && y + 1 < n && d[y][x] === d[y][x + 1] && d[y][x] === d[y + 1][x] && d[y][x] === d[y + 1][x + 1]) score += 3;
      }
    }
    score += Math.floor(Math.abs(darkCount * 20 - n * n * 10) / (n * n)) * 10;
    return score;
  }
}

/** The QR of `text` (UTF-8, byte mode, level M): {size, dark: boolean[row][column]}. */
export function encodeQr(text) {
  const bytes = Array.from(new TextEncoder().encode(text));
  let version = 1;
  while (version <= 40 && 4 + (version < 10 ? 8 : 16) + bytes.length * 8 > dataCodewords(version) * 8) version++;
  if (version > 40) throw new Error('text too long for a QR code');
  const codewords = interleave(dataStream(bytes, version), version);
  let best = null;
  for (let mask = 0; mask < 8; mask++) {
    const m = new Matrix(version);
    m.drawFunctionPatterns();
    m.drawCodewords(codewords);
    m.applyMask(mask);
    m.drawFormat(mask);
    const score = m.penalty();
    if (best === null || score < best.score) best = { score, m };
  }
  return { size: best.m.size, dark: best.m.dark };
}

/** An SVG element drawing the QR of `text`, `scale` pixels per module, a 4-module quiet zone. */
export function qrSvg(text, { scale = 6, margin = 4 } = {}) {
  const { size, dark } = encodeQr(text);
  const full = size + margin * 2;
  let path = '';
  dark.forEach((row, y) => row.forEach((on, x) => { if (on) path += `M${x + margin},${y + margin}h1v1h-1z`; }));
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${full} ${full}`);
  svg.setAttribute('width', String(full * scale));
  svg.setAttribute('height', String(full * scale));
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'WhatsApp QR code');
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', String(full));
  bg.setAttribute('height', String(full));
  bg.setAttribute('fill', '#fff');
  const fg = document.createElementNS(ns, 'path');
  fg.setAttribute('d', path);
  fg.setAttribute('fill', '#000');
  svg.append(bg, fg);
  return svg;
}

const DEFAULT_LABELS = {
  waiting: 'Waiting for WhatsApp…',
  qr: 'Open WhatsApp on your phone → Linked devices → Link a device, and scan this code.',
  connected: 'WhatsApp is connected.',
  refused: 'You may not link WhatsApp for this workspace.',
};

/**
 * Renders the QR and status of one session into `element`, live. Options: workspace, session,
 * channel (default "workspace.{workspace}", as config wa-sidecar.broadcast.channel), labels,
 * scale. Returns {stop()} to leave the channel.
 */
export function mountSessionQr(echo, element, options) {
  const { workspace, session } = options;
  const channelName = (options.channel || 'workspace.{workspace}').replace('{workspace}', workspace);
  const labels = { ...DEFAULT_LABELS, ...(options.labels || {}) };
  const status = document.createElement('p');
  status.setAttribute('data-wa-status', '');
  status.setAttribute('role', 'status');
  const qr = document.createElement('div');
  qr.setAttribute('data-wa-qr', '');
  element.replaceChildren(status, qr);

  const show = (state, text) => {
    element.dataset.state = state;
    status.textContent = text;
  };
  show('waiting', labels.waiting);

  const channel = echo.private(channelName);
  channel.listen('.session.qr', (e) => {
    if (e.session !== session || typeof e.raw !== 'string') return;
    qr.replaceChildren(qrSvg(e.raw, { scale: options.scale || 6 }));
    qr.dataset.attempt = String(e.attempt ?? '');
    show('qr_required', labels.qr);
  });
  channel.listen('.session.status', (e) => {
    if (e.session !== session) return;
    if (e.state !== 'qr_required' && e.state !== 'pairing') qr.replaceChildren();
    show(e.state, e.state === 'connected' ? labels.connected : `WhatsApp: ${e.state}${e.reason ? ` (${e.reason})` : ''}`);
  });
  if (typeof channel.subscribed === 'function') {
    channel.subscribed(() => { element.dataset.channel = 'subscribed'; });
  }
  if (typeof channel.error === 'function') {
    channel.error(() => { element.dataset.channel = 'refused'; show('refused', labels.refused); });
  }
  return { stop: () => echo.leave(channelName) };
}
