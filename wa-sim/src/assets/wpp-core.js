/*! wa-sim: WhatsApp Web simulator page. Defines its own window.WPP (the @wppconnect/wa-js
 * subset of wa-bridge-contract.md, Appendix A); the real wa-js bundle is never loaded here.
 * Part 1: ids, errors, events, persistence, the connection. Part 2 (below): WPP itself. */
(function () {
  'use strict';
  const script = document.currentScript;
  let CFG = {};
  try { CFG = JSON.parse((script && script.dataset.config) || '{}'); } catch (e) { CFG = {}; }
  const VERSION_STR = '2.3000.1046379654';

  if (/HeadlessChrome/.test(navigator.userAgent)) {
    // WhatsApp Web refuses headless Chrome and never boots.
    document.addEventListener('DOMContentLoaded', () => {
      document.body.innerHTML = '<div id="unsupported-browser"><h1>WhatsApp works with Google Chrome 85+</h1></div>';
    });
    return;
  }

  // ---------------------------------------------------------------- errors and ids
  class WPPError extends Error {
    constructor(code, message, extra) {
      super(message || code);
      this.name = 'WPPError';
      this.code = code;
      if (extra) Object.assign(this, extra);
    }
  }

  class Wid {
    constructor(s) {
      const at = s.indexOf('@');
      this.server = s.slice(at + 1);
      this.user = s.slice(0, at);
      this._serialized = s;
    }
    toString() { return this._serialized; }
    toJSON() { return this._serialized; }
    equals(o) { return !!o && String(o._serialized || o) === this._serialized; }
    isLid() { return this.server === 'lid'; }
    isGroup() { return this.server === 'g.us'; }
    isUser() { return this.server === 'c.us' || this.server === 'lid'; }
    isNewsletter() { return this.server === 'newsletter'; }
    isBroadcast() { return this.server === 'broadcast'; }
    isStatus() { return this._serialized === 'status@broadcast'; }
  }
  const SERVERS = ['c.us', 'g.us', 'lid', 'broadcast', 'newsletter'];

  function createWid(x) {
    if (x instanceof Wid) return x;
    if (x && typeof x === 'object' && typeof x._serialized === 'string') return createWid(x._serialized);
    if (typeof x !== 'string' && typeof x !== 'number') throw new WPPError('invalid_wid', 'Invalid WID value for ' + String(x));
    const s = String(x).trim();
    if (/^\d+$/.test(s)) return new Wid(s + '@c.us');
    if (/^\d+-\d+$/.test(s)) return new Wid(s + '@g.us');
    if (/status$/.test(s) && !s.includes('@')) return new Wid('status@broadcast');
    const m = /^([\w:.-]+)@([\w.]+)$/.exec(s);
    if (m && SERVERS.includes(m[2])) return new Wid(s);
    throw new WPPError('invalid_wid', 'Invalid WID value for ' + s);
  }

  class MsgKey {
    constructor(fromMe, remote, id, participant) {
      this.fromMe = !!fromMe;
      this.remote = createWid(remote);
      this.id = id;
      if (participant) this.participant = createWid(participant);
      this._serialized = `${this.fromMe}_${this.remote._serialized}_${id}` +
        (this.participant ? `_${this.participant._serialized}` : '');
    }
    toString() { return this._serialized; }
    toJSON() {
      const o = { fromMe: this.fromMe, remote: this.remote, id: this.id, _serialized: this._serialized };
      if (this.participant) o.participant = this.participant;
      return o;
    }
  }

  function parseKey(s) {
    if (s instanceof MsgKey) return s;
    if (s && typeof s === 'object' && s._serialized) return parseKey(s._serialized);
    const p = String(s).split('_');
    if (p.length < 3 || (p[0] !== 'true' && p[0] !== 'false')) throw new WPPError('invalid_message_id', 'Invalid message id ' + s);
    return new MsgKey(p[0] === 'true', p[1], p[2], p[3]);
  }

  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
  const genId = () => '3EB0' + hex(8);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms || 0));
  const nowS = () => Math.floor(Date.now() / 1000);

  // ---------------------------------------------------------------- events
  const listeners = new Map();
  const anyListeners = [];
  function on(name, cb) { if (!listeners.has(name)) listeners.set(name, []); listeners.get(name).push(cb); return WPP; }
  function off(name, cb) { const l = listeners.get(name); if (l) { const i = l.indexOf(cb); if (i >= 0) l.splice(i, 1); } return WPP; }
  function once(name, cb) { const w = (...a) => { off(name, w); cb(...a); }; return on(name, w); }
  function onAny(cb) { anyListeners.push(cb); return WPP; }
  function offAny(cb) { const i = anyListeners.indexOf(cb); if (i >= 0) anyListeners.splice(i, 1); return WPP; }
  function emit(name, ...args) {
    for (const cb of (listeners.get(name) || []).slice()) { try { cb(...args); } catch (e) { console.error('WPP listener', name, e); } }
    for (const cb of anyListeners.slice()) { try { cb(name, ...args); } catch (e) { console.error('WPP listener', e); } }
  }
  function waitFor(name, opt) {
    const timeout = typeof opt === 'number' ? opt : (opt && opt.timeout) || 0;
    const filter = typeof opt === 'function' ? opt : (opt && opt.filter) || null;
    return new Promise((resolve, reject) => {
      let timer = null;
      const cb = (...a) => { if (filter && !filter(...a)) return; off(name, cb); clearTimeout(timer); resolve(a); };
      on(name, cb);
      if (timeout > 0) timer = setTimeout(() => { off(name, cb); reject(new Error('timeout')); }, timeout);
    });
  }

  // ---------------------------------------------------------------- state
  const S = {
    pageId: 'page-' + hex(8).toLowerCase(),
    timings: CFG, ws: null, wsOpen: false, outbox: [], rpcSeq: 0, rpcs: new Map(),
    bootStarted: false, neverReady: false, creds: null, me: null,
    authenticated: false, registered: false, mainInit: false, mainLoaded: false, mainReady: false,
    socketState: 'OPENING', streamMode: null, streamInfo: null, online: true,
    authCode: null, idle: false, requireAuthFired: false, evQueue: [],
    msgs: new Map(), byRaw: new Map(), chats: new Map(), chatAlias: new Map(), calls: new Map(), chatMsgs: new Map(), groups: new Map(), contacts: new Map(),
    link: null, needsUpdate: false, conflict: false, loggedOut: false, stopped: false, logoutWaiters: [], keepAlive: false,
  };
  const T = (k, d) => (S.timings && S.timings[k] != null ? S.timings[k] : d);

  function setMode(m) { if (S.streamMode !== m) { S.streamMode = m; emit('conn.stream_mode_changed', m); } }
  function setInfo(i) { if (S.streamInfo !== i) { S.streamInfo = i; emit('conn.stream_info_changed', i); } }
  function setOnline(v) { if (S.online !== v) { S.online = v; emit('conn.online', v); } }
  function mainReadyOnce() { if (!S.mainReady) { S.mainReady = true; emit('conn.main_ready'); } }
  function fullReady() { if (!root.isFullReady) { root.isFullReady = true; emit('loader.full_ready'); } }
  function status(text) { const el = document.getElementById('status'); if (el) el.textContent = text; }

  // ---------------------------------------------------------------- persistence (IndexedDB + localStorage)
  const DB = 'wawc', STORE = 'user';
  function idb() {
    return new Promise((resolve, reject) => {
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }
  async function idbDo(mode, fn) {
    const db = await idb();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode, { durability: 'strict' });
        const req = fn(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(req ? req.result : undefined);
        tx.onerror = () => reject(tx.error);
      });
    } finally { db.close(); }
  }
  // Like WhatsApp Web (whose `wawc_db_enc` holds non-extractable CryptoKeys), the login's secret
  // is sealed with a non-extractable AES-GCM key kept in the same IndexedDB record: a copy of the
  // storage that cannot carry the key cannot carry the login either.
  async function sealToken(token) {
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(token));
    return { token_key: key, token_iv: iv, token_sealed: data };
  }
  async function openToken(rec) {
    if (!(rec.token_key instanceof CryptoKey)) throw new Error('the login record has no token key');
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.token_iv }, rec.token_key, rec.token_sealed);
    return new TextDecoder().decode(plain);
  }
  async function loadCreds() {
    let rec;
    try { rec = (await idbDo('readonly', (s) => s.get('login'))) || null; } catch (e) { return null; }
    if (!rec) return null;
    try { return Object.assign({}, rec, { token: await openToken(rec) }); } catch (e) {
      console.warn('wa-sim: the stored login cannot be opened (its key is missing or wrong)', e);
      return null;
    }
  }
  async function saveCreds(rec) {
    const { token, ...rest } = rec;
    const sealed = Object.assign(rest, await sealToken(token));
    await idbDo('readwrite', (s) => s.put(sealed, 'login'));
    localStorage.setItem('last-wid-md', JSON.stringify(rec.device_id + '@c.us'));
    localStorage.setItem('wa-sim-login', rec.device_id);
  }
  async function clearCreds() {
    try { await idbDo('readwrite', (s) => s.delete('login')); } catch (e) { console.warn('wa-sim: clear login', e); }
    localStorage.removeItem('last-wid-md');
    localStorage.removeItem('wa-sim-login');
  }

  // ---------------------------------------------------------------- connection
  function connect() {
    if (S.stopped) return;
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    S.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({
      t: 'hello', page: S.pageId, ua: navigator.userAgent,
      creds: S.creds ? { device_id: S.creds.device_id, token: S.creds.token } : null,
      device_name: config.deviceName || null,
    }));
    ws.onmessage = (e) => { let f; try { f = JSON.parse(e.data); } catch (err) { return; } onFrame(f); };
    ws.onclose = () => {
      const was = S.wsOpen;
      S.wsOpen = false;
      if (S.ws === ws) S.ws = null;
      if (S.stopped || S.conflict || S.loggedOut) return;
      if (was) dropped();
      setTimeout(connect, T('reconnect_ms', 2000));
    };
  }

  function rpc(m, a) {
    return new Promise((resolve, reject) => {
      const id = ++S.rpcSeq;
      S.rpcs.set(id, { resolve, reject });
      const frame = JSON.stringify({ t: 'rpc', id, m, a: a || {} });
      if (S.wsOpen && S.ws) S.ws.send(frame); else S.outbox.push(frame);
    });
  }

  function onFrame(f) {
    switch (f.t) {
      case 'hello': return onHello(f);
      case 'res': {
        const p = S.rpcs.get(f.id);
        if (!p) return;
        S.rpcs.delete(f.id);
        return f.err ? p.reject(new WPPError(f.err.code, f.err.message)) : p.resolve(f.ok);
      }
      case 'qr': S.idle = false; S.socketState = 'UNPAIRED'; return setAuthCode(f.qr);
      case 'qr_idle': return onIdle();
      case 'paired': return onPaired(f);
      case 'logout': return doLogout(f.reason || 'user_initiated');
      case 'conflict': return onConflict();
      case 'crash': return crash();
      case 'block': return onBlock(f.mode);
      case 'backend': return emit('conn.backend_event', f.name, ...(f.args || []));
      case 'ev': if (S.mainLoaded) handleEv(f); else S.evQueue.push(f); return;
      default: return;
    }
  }

  function onHello(f) {
    S.wsOpen = true;
    S.timings = Object.assign({}, S.timings, f.timings || {});
    for (const frame of S.outbox.splice(0)) S.ws.send(frame);
    if (!S.bootStarted) { S.bootStarted = true; S.neverReady = !!f.never_ready; boot(f); } else resume(f);
  }

  // ---------------------------------------------------------------- lifecycle
  async function boot(f) {
    await sleep(T('boot_delay_ms', 300));
    if (f.mode === 'unpaired' && f.qr) S.authCode = toAuthCode(f.qr);
    root.isInjected = true;
    emit('loader.injected');
    emit('conn.auth_code_change', f.mode === 'unpaired' ? S.authCode : null);
    setInfo('OPENING');
    if (S.neverReady) { status('Loading… (wa-sim fault: bridge never ready)'); return; }
    await sleep(T('ready_delay_ms', 200));
    window.Debug = { VERSION: VERSION_STR };
    S.mainInit = true;
    emit('conn.main_init');
    root.isReady = true;
    emit('loader.ready');
    if (f.mode === 'revoked') return doLogout(f.reason || 'unknown_companion');
    if (f.mode === 'linked') return restore(f);
    showQr(f);
  }

  function showQr(f) {
    S.socketState = 'UNPAIRED';
    setMode('QR');
    mainReadyOnce();
    fullReady();
    if (!S.requireAuthFired) { S.requireAuthFired = true; emit('conn.require_auth'); }
    if (f && f.link_code) { S.link = { phone: null, code: f.link_code }; renderLink(); }
    renderQr();
  }

  async function restore(f) {
    S.registered = true;
    S.authenticated = true;
    setMe(f.me);
    loadHistory(f.history);
    setMode('SYNCING');
    setInfo('SYNCING');
    status('Syncing…');
    await sleep(T('main_delay_ms', 300));
    goMain();
    S.mainLoaded = true;
    emit('conn.main_loaded');
    mainReadyOnce();
    fullReady();
    flushEvents();
  }

  function goMain() {
    setMode('MAIN');
    setInfo('NORMAL');
    S.socketState = 'CONNECTED';
    status('Connected as ' + (S.me ? S.me.phone : '?'));
  }

  async function onPaired(f) {
    clearLink();
    S.socketState = 'PAIRING';
    S.authCode = null;
    S.idle = false;
    emit('conn.auth_code_change', null);
    setMode('SYNCING');
    setInfo('SYNCING');
    status('Logging in…');
    const c = f.creds;
    S.creds = { device_id: c.device_id, token: c.token };
    await saveCreds({
      device_id: c.device_id, phone: c.phone, token: c.token, wa_sim_login_marker: c.marker,
      pushname: f.me.pushname, linked_at: Date.now(),
    });
    setMe(f.me);
    loadHistory(f.history);
    await sleep(T('pair_delay_ms', 500));
    S.authenticated = true;
    S.registered = true;
    S.requireAuthFired = false;
    emit('conn.authenticated');
    S.mainLoaded = true;
    emit('conn.main_loaded');
    goMain();
    mainReadyOnce();
    fullReady();
    renderQr();
    flushEvents();
  }

  function onIdle() {
    S.idle = true;
    S.socketState = 'UNPAIRED_IDLE';
    S.authCode = null;
    renderQr();
    emit('conn.qrcode_idle');
  }

  async function doLogout(reason) {
    if (S.loggedOut) return;
    S.loggedOut = true;
    S.stopped = true;
    clearLink();
    S.authenticated = false;
    S.registered = false;
    S.mainLoaded = false;
    S.creds = null;
    await clearCreds();
    S.socketState = 'UNPAIRED';
    status('Logged out');
    emit('conn.logout_reason', reason);
    emit('conn.logout');
    for (const w of S.logoutWaiters.splice(0)) w(true);
    if (S.ws) S.ws.close();
    setTimeout(() => location.reload(), T('logout_reload_ms', 1000));
  }

  function onConflict() {
    S.conflict = true;
    S.socketState = 'CONFLICT';
    setMode('CONFLICT');
    status('WhatsApp is open on another computer or browser');
  }

  function onBlock(mode) {
    S.socketState = mode;
    setMode(mode);
    if (mode === 'DEPRECATED_VERSION') { S.needsUpdate = true; emit('conn.needs_update'); }
    status('Blocked: ' + mode);
  }

  function dropped() {
    if (!root.isInjected) return;
    S.socketState = 'TIMEOUT';
    setOnline(false);
    setInfo('OFFLINE');
    setMode('OFFLINE');
    status('Computer not connected');
  }

  function resume(f) {
    if (f.mode === 'revoked') return doLogout(f.reason || 'unknown_companion');
    setOnline(true);
    if (f.mode === 'linked') {
      setInfo('CONNECTING');
      setInfo('RESUMING');
      loadHistory(f.history);
      goMain();
    } else {
      S.socketState = 'UNPAIRED';
      S.idle = false;
      setInfo('OPENING');
      setMode('QR');
      if (f.qr) setAuthCode(f.qr);
    }
  }

  function crash() {
    status('crashed');
    // The renderer spins forever: evaluations time out, as with a hung WhatsApp tab.
    for (;;) { /* wa-sim crash fault */ }
  }

  function toAuthCode(q) {
    return { type: 'multidevice', ref: q.ref, staticKeyPair: q.staticKeyPair, identityKeyPair: q.identityKeyPair, secretKey: q.secretKey, fullCode: q.fullCode };
  }
  function setAuthCode(q) {
    S.authCode = q ? toAuthCode(q) : null;
    renderQr();
    if (root.isInjected) emit('conn.auth_code_change', S.authCode);
  }
  function renderQr() {
    const el = document.getElementById('qr');
    if (!el) return;
    const code = S.authenticated ? '' : (S.authCode ? S.authCode.fullCode : '');
    el.setAttribute('data-ref', code);
    el.textContent = S.idle ? 'Click to reload QR code' : code;
  }
  function renderLink() {
    const el = document.getElementById('link-code');
    if (el) el.textContent = S.link && S.link.code ? S.link.code : '';
  }
  function clearLink() { if (S.link && S.link.timer) clearTimeout(S.link.timer); S.link = null; renderLink(); }

  function setMe(me) {
    S.me = me;
    const el = document.getElementById('app');
    if (el) el.setAttribute('data-me', me ? me.phone : '');
  }
  function flushEvents() { for (const f of S.evQueue.splice(0)) handleEv(f); }

  window.addEventListener('online', () => setOnline(true));
  window.addEventListener('offline', () => setOnline(false));

  // ---- part 2 (wpp-api.js) continues inside this same function.
