/*! wa-sim page weight (SimConfig.page_weight): gives the page the JS heap and DOM of a real
 * logged-in WhatsApp Web account, so memory measured on wa-sim is not only Chromium's own.
 * Off (heap_mib = dom_nodes = 0) by default. Everything stays reachable from
 * window.__waSimWeight for the page's life, as WhatsApp Web keeps its models in memory. */
(function () {
  'use strict';
  const script = document.currentScript;
  let cfg = {};
  try { cfg = JSON.parse((script && script.dataset.config) || '{}').page_weight || {}; } catch (e) { cfg = {}; }
  const heapBytes = Math.max(0, Number(cfg.heap_mib) || 0) * 1048576;
  const domNodes = Math.max(0, Number(cfg.dom_nodes) || 0);
  if ((!heapBytes && !domNodes) || /HeadlessChrome/.test(navigator.userAgent)) return;

  // Deterministic (xorshift32): every page of a run carries the same weight.
  let seed = 0x2545f491;
  const rnd = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 4294967296; };
  const int = (n) => Math.floor(rnd() * n);
  const WORDS = ('ok yes no thanks see you tomorrow at the office call me when you can the invoice is ' +
    'attached please confirm the delivery address price order photo meeting monday friday sorry ' +
    'running late great news happy birthday where are you on my way sounds good let me check').split(' ');
  const NAMES = 'Ana Bruno Carla Diego Elena Farid Gita Hugo Ines Jonas Kemal Lina Marco Nadia Omar Paula'.split(' ');
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const words = (min, max) => { const n = min + int(max - min); const w = []; for (let i = 0; i < n; i++) w.push(WORDS[int(WORDS.length)]); return w.join(' '); };
  // Fresh flat strings cut from random pools: TextDecoder copies, where slice() would share.
  const pool = (alphabet, n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = alphabet.charCodeAt(int(alphabet.length)); return b; };
  const DIGITS = pool('0123456789', 1 << 16), BASE64 = pool(B64, 1 << 18);
  const dec = new TextDecoder();
  const cut = (p, n) => { const at = int(p.length - n); return dec.decode(p.subarray(at, at + n)); };
  const digits = (n) => cut(DIGITS, n);
  const blob = (n) => cut(BASE64, n);
  const hexId = () => '3EB0' + digits(16);

  // What an object costs on V8's heap (pointer compression: 4-byte fields, one-byte strings),
  // roughly. On Chromium 156 Runtime.getHeapUsage grew by 0.6 of this estimate (wa-sim test
  // `weight`), hence SCALE: the page builds until the estimate times SCALE reaches heap_mib.
  const OBJ = 24, FIELD = 4, STR = 16, SCALE = 0.6;
  const str = (s) => STR + s.length;
  const store = { contacts: [], chats: [], byId: new Map(), bytes: 0, domNodes: 0 };

  function contact(i) {
    const user = '1555' + digits(7);
    const c = {
      id: { server: 'c.us', user, _serialized: user + '@c.us' },
      name: NAMES[i % NAMES.length] + ' ' + words(1, 2), pushname: words(1, 3), shortName: NAMES[int(NAMES.length)],
      isBusiness: rnd() < 0.1, isMyContact: true, labels: [], profilePicThumb: { eurl: 'https://pps.example/' + blob(96), tag: digits(10) },
      lid: digits(15) + '@lid', statusMute: false, verifiedName: null,
    };
    store.bytes += OBJ * 4 + FIELD * 16 + str(c.id._serialized) + str(c.name) + str(c.pushname) + str(c.profilePicThumb.eurl) + str(c.lid) + 64;
    return c;
  }

  function message(chat, i) {
    const fromMe = rnd() < 0.45;
    const id = hexId();
    const body = words(3, 40);
    const m = {
      id: { fromMe, remote: chat.id, id, _serialized: `${fromMe}_${chat.id}_${id}` },
      type: 'chat', body, t: 1764000000 + i * 37, ack: fromMe ? 3 : 0, from: fromMe ? 'me' : chat.id, to: fromMe ? chat.id : 'me',
      notifyName: chat.name, isNewMsg: false, star: false, mentionedJidList: [], labels: [], quotedStanzaID: rnd() < 0.1 ? hexId() : null,
    };
    store.bytes += OBJ * 3 + FIELD * 20 + str(m.id._serialized) + str(id) + str(body) + 48;
    if (rnd() < 0.06) {
      // Image messages keep a base64 thumbnail in the model (a few KiB each).
      m.type = 'image';
      m.mediaData = { mimetype: 'image/jpeg', size: 40000 + int(200000), filehash: blob(44), thumbnail: blob(2000 + int(3000)) };
      store.bytes += OBJ + FIELD * 4 + str(m.mediaData.thumbnail) + 100;
    }
    chat.msgs.push(m);
    store.byId.set(m.id._serialized, m);
    store.bytes += 12;
  }

  function buildHeap() {
    if (!heapBytes) return;
    const mib = heapBytes / 1048576;
    // Proportions of an active account: ~24 contacts and ~5 chats per MiB of model data.
    for (let i = 0; i < Math.max(1, Math.round(mib * 24)); i++) store.contacts.push(contact(i));
    for (let i = 0; i < Math.max(1, Math.round(mib * 5)); i++) {
      const who = store.contacts[i % store.contacts.length];
      store.chats.push({ id: who.id._serialized, name: who.name, unreadCount: int(5), t: 0, archive: false, pin: 0, msgs: [] });
      store.bytes += OBJ * 2 + FIELD * 10 + 32;
    }
    let i = 0;
    while (store.bytes * SCALE < heapBytes) { message(store.chats[int(store.chats.length)], i); i++; }
    store.messages = i;
  }

  function el(tag, cls, parent, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) { e.appendChild(document.createTextNode(text)); store.domNodes++; }
    parent.appendChild(e);
    store.domNodes++;
    return e;
  }

  // The chat list and an open chat, as rows and bubbles of about a dozen nodes each.
  function buildDom() {
    if (!domNodes) return;
    const root = el('div', 'wa-sim-weight', document.body);
    const list = el('div', 'chat-list', root);
    const pane = el('div', 'conversation', root);
    let n = 0;
    while (store.domNodes < domNodes) {
      const chat = store.chats[n % Math.max(1, store.chats.length)] || { name: 'Chat ' + n, msgs: [] };
      if (n % 2 === 0) {
        const row = el('div', 'chat-row', list);
        el('img', 'avatar', el('div', 'avatar-wrap', row)).alt = '';
        const info = el('div', 'info', row);
        el('span', 'name', info, chat.name);
        el('span', 'time', info, '12:' + String(n % 60).padStart(2, '0'));
        el('span', 'last', el('div', 'preview', info), words(3, 8));
      } else {
        const msg = chat.msgs[n % Math.max(1, chat.msgs.length)];
        const bubble = el('div', 'bubble', pane);
        el('span', 'text', el('div', 'body', bubble), msg ? msg.body : words(3, 20));
        const meta = el('div', 'meta', bubble);
        el('span', 'time', meta, '09:' + String(n % 60).padStart(2, '0'));
        el('span', 'ack', meta, '✓✓');
      }
      n++;
    }
  }

  function build() {
    const t0 = performance.now();
    buildHeap();
    buildDom();
    store.summary = {
      heap_mib: heapBytes / 1048576, estimated_bytes: Math.round(store.bytes * SCALE), contacts: store.contacts.length,
      chats: store.chats.length, messages: store.messages || 0, dom_nodes: store.domNodes,
      build_ms: Math.round(performance.now() - t0),
    };
    window.__waSimWeight = store;
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', build);
  else build();
})();
