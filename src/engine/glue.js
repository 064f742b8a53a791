// wa-sidecar glue: forwards the WPP bridge's state and events to the engine through one CDP
// binding, as JSON strings. Runs at document start in every document (an init script), so it is
// back after every reload; WPP may appear later (the simulator defines it from its own page).
(() => {
  if (window.top !== window || window.__waSidecarGlue) return;
  window.__waSidecarGlue = true;
  const BINDING = '__BINDING__';
  const EVENTS = [
    'conn.auth_code_change', 'conn.qrcode_idle', 'conn.require_auth', 'conn.authenticated',
    'conn.main_loaded', 'conn.main_ready', 'conn.stream_mode_changed', 'conn.stream_info_changed',
    'conn.online', 'conn.logout', 'conn.logout_reason', 'conn.needs_update',
    'conn.link_code_change', 'conn.link_code_expired', 'conn.link_code_error',
  ];
  const queue = [];
  const flush = () => {
    const fn = window[BINDING];
    if (typeof fn !== 'function') return setTimeout(flush, 50);
    while (queue.length) fn(queue.shift());
  };
  const send = (msg) => { queue.push(JSON.stringify(msg)); if (queue.length === 1) flush(); };
  const safe = (f) => { try { return f(); } catch (e) { return null; } };
  const phoneOf = (w) => {
    if (!w) return null;
    const s = typeof w === 'string' ? w : (w.user ? String(w.user) : String(w._serialized || ''));
    return s ? s.split('@')[0].split(':')[0] : null;
  };
  // What the engine needs beside each event: WPP.conn is only usable once WPP.isReady.
  const snapshot = () => {
    const W = window.WPP;
    if (!W || !W.isReady || !W.conn) return {};
    return {
      authenticated: safe(() => !!W.conn.isAuthenticated()),
      mode: safe(() => (W.conn.getStreamData() || {}).mode || null),
      phone: safe(() => phoneOf(W.conn.getMyUserId())),
    };
  };
  const plain = (name, p) => {
    if (name === 'conn.auth_code_change') return p && p.fullCode ? String(p.fullCode) : null;
    if (name === 'conn.link_code_error') return p ? String(p.message || p) : null;
    if (p === undefined || typeof p === 'function') return null;
    return safe(() => JSON.parse(JSON.stringify(p)));
  };
  let ready = false;
  let qrSeen = false;
  // Events from before isReady (wa-js emits the first auth code at injection) follow the ready
  // message, so the engine always reports BridgeReady first.
  const early = [];
  const checkReady = (W) => {
    if (ready || !W.isReady) return;
    ready = true;
    // isRegistered: a login stored in the profile, known before WhatsApp finishes restoring it
    // (isAuthenticated may still be false at this instant).
    const registered = safe(() => !!W.conn.isRegistered());
    send(Object.assign({ t: 'ready', version: W.version ? String(W.version) : null, registered }, snapshot()));
    while (early.length) send(early.shift());
    catchUpQr(W);
  };
  // A glue that attached after the first conn.auth_code_change (WPP defined late by the page)
  // would wait for the next rotation: ask for the current code once instead. The engine drops
  // a repeat of the code it already has.
  const catchUpQr = (W) => {
    if (qrSeen) return;
    safe(() => Promise.resolve(W.conn.getAuthCode()).then((code) => {
      if (qrSeen || !code || !code.fullCode) return;
      send(Object.assign({ t: 'ev', name: 'conn.auth_code_change', payload: String(code.fullCode) }, snapshot()));
    }).catch(() => {}));
  };
  const attach = (W) => {
    for (const name of EVENTS) {
      W.on(name, (payload) => {
        checkReady(W);
        const msg = Object.assign({ t: 'ev', name, payload: plain(name, payload) }, snapshot());
        if (name === 'conn.auth_code_change' && msg.payload) qrSeen = true;
        if (ready) send(msg); else early.push(msg);
      });
    }
    // loader.onReady only fires on the next emission, so poll the flag as well.
    W.on('loader.ready', () => checkReady(W));
    const poll = setInterval(() => { checkReady(W); if (ready) clearInterval(poll); }, 100);
    checkReady(W);
  };
  send({ t: 'boot', url: String(location.href) });
  const waitForWpp = () => {
    const W = window.WPP;
    if (W && typeof W.on === 'function') return attach(W);
    setTimeout(waitForWpp, 50);
  };
  waitForWpp();
})();
