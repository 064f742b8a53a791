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
  // Only plain values cross CDP: ids as their serialized strings, no model objects, no blobs.
  const str = (v) => (v === null || v === undefined || v === '' ? null : String(v));
  const num = (v) => (typeof v === 'number' && isFinite(v) ? v : null);
  const wireMsg = (m) => {
    if (!m) return null;
    const a = m.attributes || m;
    const key = a.id || {};
    const type = a.type ? String(a.type) : null;
    const group = !!a.isGroupMsg || /@g\.us$/.test(idOf(key.remote) || '');
    let vcards = null;
    if (Array.isArray(a.vcardList) && a.vcardList.length) {
      vcards = a.vcardList.map((v) => ({ name: str(v && v.displayName), vcard: str(v && v.vcard) }));
    } else if (type === 'vcard' && typeof a.body === 'string') {
      vcards = [{ name: str(a.vcardFormattedName), vcard: a.body }];
    }
    return {
      id: idOf(key), raw_id: key.id ? String(key.id) : null, from_me: !!key.fromMe,
      remote: idOf(key.remote), is_group: group,
      // The sender: a group's participant (author), else the other side of a 1:1 chat.
      participant: idOf(key.participant || a.author),
      from: idOf(a.from), to: idOf(a.to), author: idOf(a.author),
      type, subtype: str(a.subtype),
      body: typeof a.body === 'string' && (type === 'chat' || type === 'ciphertext') ? a.body : null,
      caption: str(a.caption),
      t: num(a.t), ack: num(a.ack), notify_name: str(a.notifyName),
      mimetype: str(a.mimetype), size: num(a.size), filehash: str(a.filehash), filename: str(a.filename),
      is_media: !!a.isMedia || ['image', 'video', 'audio', 'ptt', 'document', 'sticker'].includes(type),
      lat: num(a.lat), lng: num(a.lng), loc: str(a.loc), loc_name: str(a.name), loc_address: str(a.address),
      vcards,
      quoted_id: str(a.quotedMsgId && a.quotedMsgId._serialized ? a.quotedMsgId._serialized : a.quotedMsgId),
      quoted_raw_id: str(a.quotedStanzaID),
      quoted_participant: idOf(a.quotedParticipant),
      mentions: Array.isArray(a.mentionedJidList) ? a.mentionedJidList.map(idOf) : [],
      is_view_once: !!a.isViewOnce, is_forwarded: !!a.isForwarded,
      edit_id: idOf(a.latestEditMsgKey),
      poll_name: str(a.pollName),
      poll_options: Array.isArray(a.pollOptions) ? a.pollOptions.map((o) => (o && o.name !== undefined ? String(o.name) : String(o))) : null,
      poll_selectable_count: num(a.pollSelectableOptionsCount),
      is_new: a.isNewMsg === undefined ? null : !!a.isNewMsg,
    };
  };
  // A chat model as plain data (chat list, catch-up).
  const wireChat = (c) => {
    if (!c) return null;
    const a = c.attributes || c;
    const id = idOf(a.id);
    return {
      id, name: str(a.formattedTitle || a.name), is_group: !!a.isGroup || /@g\.us$/.test(id || ''),
      unread: num(a.unreadCount) || 0, t: num(a.t), archived: !!a.archive,
    };
  };
  // Media out of the page: a downloaded Blob is kept under a token and read in slices, each a
  // base64 string well under any CDP message limit; released when read (or after 10 minutes).
  const kept = new Map();
  let nextToken = 1;
  const keep = (b) => {
    if (!(b instanceof Blob)) throw Object.assign(new Error('not a Blob'), { code: 'media_not_blob' });
    const token = 'm' + (nextToken++);
    kept.set(token, b);
    setTimeout(() => kept.delete(token), 600000);
    return { token, size: b.size, mime_type: b.type || null };
  };
  const slice = async (token, offset, length) => {
    const b = kept.get(token);
    if (!b) throw Object.assign(new Error('media token expired'), { code: 'media_token_unknown' });
    const bytes = new Uint8Array(await b.slice(offset, offset + length).arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  };
  const release = (token) => kept.delete(token);
  window.__waSidecarWire = { msg: wireMsg, chat: wireChat, id: idOf, keep, slice, release };
  const pagePayload = (name, p) => {
    if (name === 'chat.new_message') return wireMsg(p);
    if (name === 'chat.msg_ack_change') {
      // In groups WhatsApp reports each member's receipt: `sender` is that member.
      return { ack: p ? p.ack : null, chat: idOf(p && p.chat), participant: idOf(p && p.sender), ids: ((p && p.ids) || []).map(idOf) };
    }
    if (name === 'chat.msg_edited') {
      return { chat: idOf(p && p.chat), id: idOf(p && p.id), msg: wireMsg(p && p.msg) };
    }
    if (name === 'chat.msg_revoke') {
      return { author: idOf(p.author), from: idOf(p.from), to: idOf(p.to), id: idOf(p.id), ref_id: idOf(p.refId), type: str(p.type) };
    }
    if (name === 'chat.new_reaction') {
      return { id: idOf(p.id), msg_id: idOf(p.msgId), text: typeof p.reactionText === 'string' ? p.reactionText : '', sender: idOf(p.sender), timestamp: num(p.timestamp) };
    }
    if (name === 'chat.poll_response') {
      // Indexed by localId: unselected slots are empty.
      const opts = Array.isArray(p.selectedOptions) ? Array.from(p.selectedOptions).filter((o) => o !== null && o !== undefined) : [];
      return {
        msg_id: idOf(p.msgId), chat: idOf(p.chatId), sender: idOf(p.sender), timestamp: num(p.timestamp),
        selected: opts.map((o) => (o && typeof o === 'object' ? { name: str(o.name), local_id: num(o.localId) } : { name: str(o), local_id: null })),
      };
    }
    if (name === 'chat.presence_change') {
      return {
        id: idOf(p.id), is_group: !!p.isGroup, state: str(p.state), is_online: !!p.isOnline, t: num(p.t), short_name: str(p.shortName),
        participants: Array.isArray(p.participants) ? p.participants.map((x) => ({ id: idOf(x.id), state: str(x.state) })) : null,
      };
    }
    if (name === 'group.participant_changed') {
      return {
        group: idOf(p.groupId), action: str(p.action || p.operation), author: idOf(p.author), author_push_name: str(p.authorPushName),
        participants: (Array.isArray(p.participants) ? p.participants : []).map(idOf),
      };
    }
    if (name === 'call.incoming_call') {
      return { id: str(p.id), is_group: !!p.isGroup, is_video: !!p.isVideo, offer_time: num(p.offerTime), sender: idOf(p.sender), peer: idOf(p.peerJid) };
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
      W.on(name, (payload, more) => {
        // WhatsApp's backend events come as (name, data).
        const p = name === 'conn.backend_event' ? { event: str(payload), data: safe(() => JSON.parse(JSON.stringify(more === undefined ? null : more))) } : payload;
        const msg = { t: 'ev', name, payload: name === 'conn.backend_event' ? p : safe(() => pagePayload(name, p)) };
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
