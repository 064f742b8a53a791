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
  // Events about messages, chats, groups and calls: forwarded as Page events for the messages part.
  const PAGE_EVENTS = [
    'chat.new_message', 'chat.msg_ack_change', 'chat.msg_revoke', 'chat.msg_edited',
    'chat.new_reaction', 'chat.poll_response', 'chat.presence_change',
    'group.participant_changed', 'call.incoming_call', 'conn.backend_event',
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
  const idOf = (v) => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'string') return v;
    return v._serialized ? String(v._serialized) : String(v);
  };
  // A message model (WhatsApp Web's MsgModel, or wa-sim's) as plain data with stable names.
  // Also used by the engine's calls (getMessageById, getMessages) through window.__waSidecarWire.
  const wireMsg = (m) => {
    if (!m) return null;
    const a = m.attributes || m;
    const key = a.id || {};
    const out = {
      id: idOf(key), raw_id: key.id ? String(key.id) : null, from_me: !!key.fromMe,
      remote: idOf(key.remote), participant: idOf(key.participant || a.author),
      from: idOf(a.from), to: idOf(a.to), author: idOf(a.author),
      type: a.type ? String(a.type) : null, subtype: a.subtype ? String(a.subtype) : null,
      body: typeof a.body === 'string' && a.type === 'chat' ? a.body : null,
      caption: a.caption !== undefined && a.caption !== null ? String(a.caption) : null,
      t: typeof a.t === 'number' ? a.t : null, ack: typeof a.ack === 'number' ? a.ack : null,
      notify_name: a.notifyName ? String(a.notifyName) : null,
      mimetype: a.mimetype || null, size: typeof a.size === 'number' ? a.size : null,
      filehash: a.filehash || null, filename: a.filename || null,
      lat: typeof a.lat === 'number' ? a.lat : null, lng: typeof a.lng === 'number' ? a.lng : null,
      loc: a.loc || null, vcard: a.vcardList || a.body && a.type === 'vcard' ? (a.vcardList || [{ vcard: a.body }]) : null,
      quoted_id: idOf(a.quotedStanzaID) || (a.quotedMsg && a.quotedMsg.id ? idOf(a.quotedMsg.id) : null),
      quoted_participant: idOf(a.quotedParticipant),
      mentions: Array.isArray(a.mentionedJidList) ? a.mentionedJidList.map(idOf) : [],
      is_view_once: !!a.isViewOnce, is_forwarded: !!a.isForwarded,
      poll_name: a.pollName || null,
      poll_options: Array.isArray(a.pollOptions) ? a.pollOptions.map((o) => (o && o.name !== undefined ? String(o.name) : String(o))) : null,
      poll_selectable_count: typeof a.pollSelectableOptionsCount === 'number' ? a.pollSelectableOptionsCount : null,
      is_new: a.isNewMsg === undefined ? null : !!a.isNewMsg,
    };
    return out;
  };
  window.__waSidecarWire = { msg: wireMsg, id: idOf };
  const pagePayload = (name, p) => {
    if (name === 'chat.new_message') return wireMsg(p);
    if (name === 'chat.msg_ack_change') {
      return { ack: p ? p.ack : null, chat: idOf(p && p.chat), ids: ((p && p.ids) || []).map(idOf) };
    }
    return safe(() => JSON.parse(JSON.stringify(p === undefined ? null : p)));
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
    for (const name of PAGE_EVENTS) {
      W.on(name, (payload) => {
        const msg = { t: 'ev', name, payload: safe(() => pagePayload(name, payload)) };
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
