  /* Part 2: the message store, server events, and the WPP object itself. */

  // ---------------------------------------------------------------- message store
  const MEDIA_TYPES = ['image', 'video', 'audio', 'ptt', 'document', 'sticker'];
  // Server-side fields that are not MsgModel fields (or are rebuilt from others).
  const CORE = ['id', 'sender', 'chat', 'type', 'body', 't', 'ack', 'notifyName', 'at_ms', 'senderLid', 'chatWid', 'quotedMsgBody', 'quotedMsgType', 'quotedParticipant'];
  const meWid = () => createWid(S.me.phone + '@c.us');
  const myLid = () => createWid(S.me.lid + '@lid');

  /** The author of a server message as this page names it: our own LID in groups and LID
   * chats (as wa-js's prepareRawMessage does), a lid-addressed contact by its LID. */
  function senderWid(w, remote) {
    if (S.me && w.sender === S.me.phone) return remote.isGroup() || remote.isLid() ? myLid() : meWid();
    return createWid(w.senderLid ? w.senderLid + '@lid' : w.sender + '@c.us');
  }

  function keyOf(w) {
    const fromMe = !!S.me && w.sender === S.me.phone;
    const group = w.chat.endsWith('@g.us');
    const remote = createWid(group ? w.chat : fromMe ? (w.chatWid || w.chat) : (w.senderLid ? w.senderLid + '@lid' : w.sender + '@c.us'));
    return new MsgKey(fromMe, remote, w.id, group ? senderWid(w, remote) : undefined);
  }

  function modelFrom(w) {
    const key = keyOf(w);
    const group = key.remote.isGroup();
    const m = {};
    for (const k of Object.keys(w)) if (!CORE.includes(k)) m[k] = w[k];
    const author = senderWid(w, key.remote);
    const me = key.remote.isGroup() || key.remote.isLid() ? myLid() : meWid();
    Object.assign(m, {
      id: key, body: w.body, type: w.type, t: w.t, timestamp: w.t, notifyName: w.notifyName,
      from: key.fromMe ? me : key.remote, to: key.fromMe ? key.remote : me,
      author: group ? author : undefined,
      ack: w.ack, isNewMsg: true, star: !!w.star, recvFresh: !key.fromMe, mentionedJidList: w.mentionedJidList || [],
      isForwarded: !!w.isForwarded, latestEditMsgKey: null, fromMe: key.fromMe, isSentByMe: key.fromMe, isGroupMsg: group,
      isStatusV3: false, chatId: key.remote, isMedia: MEDIA_TYPES.includes(w.type), sender: author,
    });
    if (w.latestEditMsgKey && w.latestEditMsgKey.id) m.latestEditMsgKey = new MsgKey(key.fromMe, key.remote, w.latestEditMsgKey.id);
    if (w.quotedStanzaID) {
      // A quote of our own message names us as WhatsApp does in that chat (LID in groups).
      const qMe = w.quotedParticipant === S.me.phone + '@c.us';
      const qWho = qMe ? (group || key.remote.isLid() ? myLid() : meWid()) : createWid(w.quotedParticipant);
      m.quotedParticipant = qWho;
      m.quotedMsgId = new MsgKey(qMe, key.remote, w.quotedStanzaID, group ? qWho : undefined);
      m.quotedMsg = { type: w.quotedMsgType || 'chat', body: w.quotedMsgBody || '' };
    }
    return m;
  }

  function chatOf(wid) {
    const id = wid._serialized;
    let c = S.chats.get(id);
    if (c) return { chat: c, created: false };
    const g = wid.isGroup();
    const meta = S.groups.get(id);
    const name = g ? (meta ? meta.subject : id) : ((S.contacts.get(id) || {}).pushname || wid.user);
    c = {
      id: wid, name, formattedTitle: name, isGroup: g, isUser: !g, kind: g ? 'group' : 'chat',
      unreadCount: 0, t: 0, timestamp: 0, archive: false, pin: 0, muteExpiration: 0, notSpam: true,
      isReadOnly: false, lastReceivedKey: null,
    };
    if (g) c.groupMetadata = groupMeta(id);
    S.chats.set(id, c);
    S.chatMsgs.set(id, []);
    return { chat: c, created: true };
  }

  /** A group member's wid as WhatsApp names it (`@lid` for a lid-addressed contact). */
  const memberWid = (g, phone) => (g.wids && g.wids[phone]) || phone + '@c.us';

  function groupMeta(id) {
    const g = S.groups.get(id);
    if (!g) return undefined;
    return {
      id: createWid(id), subject: g.subject, owner: createWid(memberWid(g, g.admins[0])),
      participants: g.members.map((p) => ({ id: createWid(memberWid(g, p)), isAdmin: g.admins.includes(p), isSuperAdmin: g.admins[0] === p })),
    };
  }

  /** Add a server message to the store. `mode`: 'live' (a new message, counts as unread),
   * 'catchup' (history after a (re)connect: counts as unread, isNewMsg false), 'quiet' (a
   * message an event refers to). Returns {model, fresh, chatCreated}. */
  function addMsg(w, mode) {
    const key = keyOf(w);
    const existing = S.msgs.get(key._serialized);
    if (existing) return { model: existing, fresh: false, chatCreated: false };
    const model = modelFrom(w);
    if (mode !== 'live') model.isNewMsg = false;
    S.msgs.set(key._serialized, model);
    S.byRaw.set(w.id, key._serialized);
    if (!key.fromMe) S.contacts.set(model.sender._serialized, { pushname: w.notifyName });
    const { chat, created } = chatOf(key.remote);
    const list = S.chatMsgs.get(chat.id._serialized);
    // Keep each chat in server order (a catch-up can bring older messages than a live one).
    let i = list.length;
    while (i > 0 && (S.msgs.get(list[i - 1]) || {}).t > w.t) i--;
    list.splice(i, 0, key._serialized);
    chat.t = chat.timestamp = Math.max(chat.t, w.t);
    if (!key.fromMe) { chat.lastReceivedKey = key; if (mode !== 'quiet' && w.ack < 3 && w.type !== 'revoked') chat.unreadCount += 1; }
    return { model, fresh: true, chatCreated: created };
  }

  function findModel(id) {
    if (id && typeof id === 'object' && id.id instanceof MsgKey) return id;
    const s = String(id && id._serialized ? id._serialized : id);
    return S.msgs.get(s) || S.msgs.get(S.byRaw.get(s)) || (s.includes('_') ? S.msgs.get(S.byRaw.get(s.split('_')[2])) : undefined);
  }

  async function reactionsOrVotes(method, id) {
    const m = findModel(id);
    const raw = m ? m.id.id : String(id && id._serialized ? id._serialized : id);
    try {
      return await rpc(method, { msg_id: raw });
    } catch (e) {
      throw new WPPError('msg_not_found', 'Message not found: ' + id, { id: String(id) });
    }
  }

  function loadHistory(h) {
    if (!h) return;
    for (const g of h.groups || []) S.groups.set(g.id, g);
    for (const w of h.msgs || []) addMsg(w, 'catchup');
  }

  function handleEv(f) {
    switch (f.kind) {
      case 'msg': {
        const r = addMsg(f.msg, 'live');
        if (!r.fresh) return;
        if (r.chatCreated) emit('chat.new_chat', S.chats.get(r.model.id.remote._serialized));
        return emit('chat.new_message', r.model);
      }
      case 'ack': {
        const m = addMsg(f.msg, 'quiet').model;
        if (f.participant) {
          // A group member's receipt: per participant, `sender` names it; the model keeps the
          // group's overall ack.
          if (f.msg.ack > m.ack) m.ack = f.msg.ack;
          const sender = createWid(f.participant_lid ? f.participant_lid + '@lid' : f.participant + '@c.us');
          // As wa-js builds it from the receipt: the key's participant is the member who sent it.
          return emit('chat.msg_ack_change', { ack: f.ack, chat: m.id.remote, sender, ids: [new MsgKey(true, m.id.remote, m.id.id, sender)] });
        }
        m.ack = f.ack;
        return emit('chat.msg_ack_change', { ack: f.ack, chat: m.id.remote, ids: [m.id] });
      }
      case 'revoke': {
        const m = addMsg(f.msg, 'quiet').model;
        m.type = 'revoked';
        m.body = '';
        // wa-js reports the protocol message that revokes: its own key, from, to, author
        // (groups); its author revoked its own message, so the subtype is `sender_revoke`.
        const p = modelFrom(Object.assign({}, f.msg, { id: f.revoke_id, type: 'protocol', body: '' }));
        return emit('chat.msg_revoke', { author: p.author, from: p.from, id: p.id, refId: m.id, to: p.to, type: 'sender_revoke' });
      }
      case 'edit': {
        const m = addMsg(f.msg, 'quiet').model;
        m.body = f.msg.body;
        m.latestEditMsgKey = new MsgKey(m.id.fromMe, m.id.remote, f.edit_id);
        // As wa-js: `chat` is the message's `to` (for a message we received, that is us).
        return emit('chat.msg_edited', { chat: m.to, id: m.id._serialized, msg: m });
      }
      case 'reaction': {
        const target = addMsg(f.target, 'quiet').model;
        const byMe = f.sender === S.me.phone;
        return emit('chat.new_reaction', {
          id: new MsgKey(byMe, target.id.remote, f.id), msgId: target.id, reactionText: f.text || '', read: false,
          sender: createWid(f.sender + '@c.us'), orphan: 0, orphanReason: null, timestamp: f.timestamp,
        });
      }
      case 'decrypt': {
        // A placeholder decrypted: same model, new type and content, chat.new_message again.
        const m = findModel(f.msg.id);
        if (!m || m.type !== 'ciphertext') return undefined;
        const fresh = modelFrom(f.msg);
        for (const k of Object.keys(fresh)) if (k !== 'id' && k !== 'isNewMsg') m[k] = fresh[k];
        return emit('chat.new_message', m);
      }
      case 'vote': {
        const poll = addMsg(f.poll, 'quiet').model;
        const selected = [];
        for (const o of f.options) selected[o.localId] = o;
        return emit('chat.poll_response', {
          msgId: poll.id, chatId: poll.id.remote, selectedOptions: selected, timestamp: f.timestamp,
          sender: createWid(f.voter_lid ? f.voter_lid + '@lid' : f.voter + '@c.us'),
        });
      }
      case 'call': {
        const c = f.call;
        const peer = createWid(f.from_lid ? f.from_lid + '@lid' : c.from + '@c.us');
        S.calls.set(c.id, c);
        return emit('call.incoming_call', { id: c.id, isGroup: c.is_group, isVideo: c.is_video, offerTime: c.offer_time, sender: peer, peerJid: peer });
      }
      case 'presence': {
        if (f.group) {
          const who = createWid(f.from_wid);
          const shortName = (S.contacts.get(who._serialized) || {}).pushname || '';
          return emit('chat.presence_change', {
            id: createWid(f.group), isOnline: true, isGroup: true, isUser: false, shortName: f.subject || '', state: f.state, t: f.t_ms,
            participants: [{ id: who._serialized, state: f.state, shortName }],
          });
        }
        const id = createWid(f.from_lid ? f.from_lid + '@lid' : f.from + '@c.us');
        return emit('chat.presence_change', {
          id, isOnline: f.state !== 'unavailable', isGroup: false, isUser: true,
          shortName: (S.contacts.get(id._serialized) || {}).pushname || '', state: f.state, t: f.t_ms, isContact: true,
        });
      }
      case 'group': {
        const g = { id: f.gid, subject: f.subject, members: f.members, admins: f.admins, wids: f.wids };
        S.groups.set(f.gid, g);
        const { chat, created } = chatOf(createWid(f.gid));
        chat.groupMetadata = groupMeta(f.gid);
        if (created) emit('chat.new_chat', chat);
        return emit('group.participant_changed', {
          author: memberWid(g, f.author), authorPushName: f.author_name || undefined, groupId: f.gid, action: f.action,
          operation: f.operation, participants: f.participants.map((p) => memberWid(g, p)),
        });
      }
      default: return undefined;
    }
  }

  // ---------------------------------------------------------------- sending
  function assertAuth() {
    if (!S.authenticated || !S.me) throw new WPPError('not_authenticated', 'WhatsApp Web is not logged in');
  }

  // As wa-js 4.6.0 (its object has no `createChat`; wppconnect sets it, the sim ignores it).
  const defaultSendMessageOptions = { detectMentioned: true, linkPreview: true, markIsRead: true, waitForAck: true, delay: 0 };

  /** wa-js's assertGetChat: the chat must already be in the store (no server call). */
  function assertGetChat(chatId) {
    const wid = createWid(chatId);
    const c = S.chats.get(wid._serialized) || S.chats.get(S.chatAlias.get(wid._serialized));
    if (!c) throw new WPPError('chat_not_found', `Chat not found for ${wid._serialized}`, { wid });
    return c;
  }

  /** wa-js's chat.find: the chat a send to `chatId` lands in, created if needed. A contact
   * WhatsApp addresses by LID resolves to its `<lid>@lid` chat. */
  async function findChat(chatId) {
    assertAuth();
    const wid = createWid(chatId);
    const local = S.chats.get(wid._serialized) || S.chats.get(S.chatAlias.get(wid._serialized));
    if (local) return local;
    if (wid.isGroup() && !S.groups.has(wid._serialized)) throw new WPPError('chat_not_found', `Chat not found for ${wid._serialized}`, { wid });
    let id = wid._serialized;
    if (wid.isUser()) {
      const r = await rpc('find_chat', { id });
      id = r.id;
      if (id !== wid._serialized) S.chatAlias.set(wid._serialized, id);
    }
    return chatOf(createWid(id)).chat;
  }

  async function chatState(chatId, state, ms) {
    const c = assertGetChat(chatId);
    clearTimeout(c.pausedTimerId);
    await rpc('chatstate', { chat: c.id._serialized, state });
    if (ms > 0) {
      await new Promise((resolve) => { c.pausedTimerId = setTimeout(() => chatState(c.id, 'paused').then(resolve, resolve), ms); });
    }
  }

  function sendResult(model, res) {
    if (!res) return null;
    return { messageSendResult: res.failed || 'OK', t: res.t, count: null };
  }

  /** Common path of every send, as wa-js's sendRawMessage: find the chat, check `messageId`,
   * echo (ack 0), mark the chat read (option), server, ack 1. `spec` = {type, body, extra, media}. */
  async function sendMsg(chatIn, spec, options) {
    assertAuth();
    const opts = Object.assign({}, defaultSendMessageOptions, options || {});
    const c = await findChat(chatIn);
    const chat = c.id;
    let rawId;
    if (opts.messageId) {
      const k = parseKey(opts.messageId);
      if (!k.fromMe) throw new WPPError('message_key_is_not_from_me', 'Message key is not from me', { messageId: k.toString() });
      if (!k.remote.equals(chat)) throw new WPPError('message_key_remote_id_is_not_same_of_chat', 'Message key remote ID is not same of chat', { messageId: k.toString() });
      rawId = k.id;
    } else {
      rawId = (await chatApi.generateMessageID(chat)).id;
    }
    const extra = Object.assign({}, spec.extra || {});
    if (opts.quotedMsg) {
      const q = findModel(opts.quotedMsg);
      if (!q) throw new WPPError('msg_not_found', 'Message not found: ' + opts.quotedMsg, { id: String(opts.quotedMsg) });
      extra.quotedStanzaID = q.id.id;
      extra.quotedParticipant = q.id.fromMe ? S.me.phone + '@c.us' : q.sender._serialized;
      extra.quotedMsgBody = q.body;
      extra.quotedMsgType = q.type;
    }
    if (Array.isArray(opts.mentionedList)) {
      extra.mentionedJidList = opts.mentionedList.map((x) => createWid(x)._serialized);
    } else if (spec.type === 'chat' && opts.detectMentioned) {
      extra.mentionedJidList = (spec.body.match(/@(\d{5,})/g) || []).map((x) => x.slice(1) + '@c.us');
    }
    if (opts.delay > 0) {
      // wa-js shows typing (recording for a voice note) in the page for the whole delay.
      if (spec.type === 'chat') await chatState(chat, 'composing');
      else if (opts.isPtt) await chatState(chat, 'recording');
      await sleep(opts.delay);
      await chatState(chat, 'paused');
    }
    if (opts.markIsRead) await chatApi.markIsRead(chat).catch(() => null);
    const wire = Object.assign({}, extra, { id: rawId, sender: S.me.phone, chat: chat._serialized, type: spec.type, body: spec.body || '', t: nowS(), ack: 0, notifyName: S.me.pushname });
    const r = addMsg(wire, 'quiet');
    const model = r.model;
    model.isNewMsg = true;
    if (r.fresh) {
      if (r.chatCreated) emit('chat.new_chat', S.chats.get(chat._serialized));
      emit('chat.new_message', model);
    }
    const pending = rpc('send', { msg: { id: rawId, chat: chat._serialized, type: spec.type, body: spec.body || '', extra }, media: spec.media || null, forward_of: spec.forwardOf || null });
    const settle = (res) => {
      for (const k of ['mimetype', 'size', 'filehash', 'mediaKey', 'directPath', 'deprecatedMms3Url']) if (res.msg && res.msg[k] !== undefined) model[k] = res.msg[k];
      if (res.failed) { model.ack = -1; return res; } // no event for a failed send, as wa-js
      if (res.ack > model.ack) { model.ack = res.ack; emit('chat.msg_ack_change', { ack: res.ack, chat, ids: [model.id] }); }
      model.t = res.t;
      return res;
    };
    const base = { id: model.id._serialized, from: model.from._serialized, to: chat._serialized };
    if (!opts.waitForAck) {
      pending.then(settle, () => { model.ack = -1; });
      return Object.assign(base, { ack: model.ack, sendMsgResult: null });
    }
    let res;
    try { res = await pending; } catch (e) { model.ack = -1; throw e; }
    settle(res);
    return Object.assign(base, { ack: model.ack, sendMsgResult: sendResult(model, res) });
  }

  function blobToBase64(blob) {
    return new Promise((resolve, reject) => {
      const fr = new FileReader();
      fr.onload = () => resolve(fr.result);
      fr.onerror = () => reject(fr.error);
      fr.readAsDataURL(blob);
    });
  }

  async function fileParts(content, mimetype) {
    if (content instanceof Blob) content = await blobToBase64(content);
    if (typeof content !== 'string') throw new WPPError('invalid_data_url', 'content must be a data URL, base64 or URL');
    if (/^https?:\/\//.test(content)) content = await blobToBase64(await (await fetch(content)).blob());
    const m = /^data:([^;,]*)(;[^,]*)?,(.*)$/s.exec(content);
    const data = m ? m[3] : content;
    if (!/^[A-Za-z0-9+/=\s]*$/.test(data)) throw new WPPError('invalid_data_url', 'content is not base64');
    return { mimetype: mimetype || (m && m[1]) || 'application/octet-stream', data };
  }

  function vcardOf(name, phone) {
    return `BEGIN:VCARD\nVERSION:3.0\nN:;${name};;;\nFN:${name}\nTEL;type=CELL;type=VOICE;waid=${phone}:+${phone}\nEND:VCARD`;
  }

  const chatApi = {
    defaultSendMessageOptions,
    async generateMessageID(chatId) {
      const wid = chatId && chatId.id instanceof Wid ? chatId.id : createWid(chatId);
      // Groups carry our LID as participant, as wa-js's generateMessageID does.
      return new MsgKey(true, wid, genId(), wid.isGroup() ? myLid() : undefined);
    },
    async sendTextMessage(chatId, content, options) {
      return sendMsg(chatId, { type: 'chat', body: String(content) }, options);
    },
    async sendFileMessage(chatId, content, options) {
      options = options || {};
      const f = await fileParts(content, options.mimetype);
      let type = options.type && options.type !== 'auto-detect' ? options.type : null;
      if (!type) type = /^image\//.test(f.mimetype) ? 'image' : /^video\//.test(f.mimetype) ? 'video' : /^audio\//.test(f.mimetype) ? 'audio' : 'document';
      if (type === 'audio' && options.isPtt) type = 'ptt';
      const size = Math.floor((f.data.replace(/[\s=]/g, '').length * 3) / 4);
      const limit = T('max_media_bytes', 16 * 1024 * 1024);
      if (size > limit) throw new WPPError('file_too_large', `File size of ${size} is bigger than the ${limit} limit`, { fileSize: size, limit, mediaType: type });
      const filename = options.filename || undefined;
      const caption = options.caption != null ? options.caption : filename;
      const extra = { caption, filename, isViewOnce: !!options.isViewOnce, isGif: !!options.isGif };
      const r = await sendMsg(chatId, { type, body: '', extra, media: { data: f.data, mimetype: f.mimetype, filename, caption } }, options);
      return { id: r.id, ack: r.ack, sendMsgResult: r.sendMsgResult };
    },
    async sendLocationMessage(chatId, options) {
      options = options || {};
      const lat = parseFloat(options.lat), lng = parseFloat(options.lng);
      if (Number.isNaN(lat) || Number.isNaN(lng)) throw new WPPError('invalid_location', 'lat and lng are required');
      const loc = [options.name, options.address].filter(Boolean).join('\n');
      return sendMsg(chatId, { type: 'location', body: '', extra: { lat, lng, loc, name: options.name, address: options.address, url: options.url } }, options);
    },
    async sendVCardContactMessage(chatId, contacts, options) {
      const list = (Array.isArray(contacts) ? contacts : [contacts]).map((c) => {
        const wid = createWid(c && c.id ? c.id : c);
        const name = (c && c.name) || (S.contacts.get(wid._serialized) || {}).pushname || wid.user;
        return { wid, name };
      });
      if (list.length === 1) {
        return sendMsg(chatId, { type: 'vcard', body: vcardOf(list[0].name, list[0].wid.user), extra: { vcardFormattedName: list[0].name } }, options);
      }
      const vcardList = list.map((c) => ({ displayName: c.name, vcard: vcardOf(c.name, c.wid.user) }));
      return sendMsg(chatId, { type: 'multi_vcard', body: '', extra: { vcardList } }, options);
    },
    async sendReactionToMessage(messageId, reaction) {
      assertAuth();
      const m = findModel(messageId);
      if (!m) throw new WPPError('msg_not_found', 'Message not found: ' + messageId, { id: String(messageId) });
      await rpc('react', { msg_id: m.id.id, text: reaction || '' });
      return { sendMsgResult: 'OK' };
    },
    // What the page knows of a message's reactions and a poll's votes, including those that
    // arrived while it was away (they reach its store without events): asked of the server.
    async getReactions(msgId) {
      assertAuth();
      const r = await reactionsOrVotes('reactions', msgId);
      const target = addMsg(r.msg, 'quiet').model;
      const byEmoji = new Map();
      let reactionByMe;
      for (const x of r.list) {
        const mine = x.sender === S.me.phone;
        const sender = createWid(x.sender + '@c.us');
        const one = { id: new MsgKey(mine, target.id.remote, x.id), msgId: target.id, reactionText: x.text, read: false, sender, orphan: 0, timestamp: x.timestamp };
        if (mine) reactionByMe = Object.assign({}, one, { senderUserJid: sender });
        const g = byEmoji.get(x.text) || { aggregateEmoji: x.text, hasReactionByMe: false, senders: [] };
        g.senders.push(one);
        g.hasReactionByMe = g.hasReactionByMe || mine;
        byEmoji.set(x.text, g);
      }
      return { reactionByMe, reactions: Array.from(byEmoji.values()) };
    },
    async getVotes(id) {
      assertAuth();
      const r = await reactionsOrVotes('votes', id);
      const poll = addMsg(r.msg, 'quiet').model;
      if (poll.type !== 'poll_creation') throw new WPPError('msg_not_found', 'Message ' + poll.id._serialized + ' not a poll', { id: poll.id._serialized });
      const votes = r.list.map((v) => {
        // Indexed by localId, as wa-js builds it.
        const selectedOptions = [];
        for (const o of v.options) selectedOptions[o.localId] = (poll.pollOptions || []).find((p) => p.localId === o.localId) || o;
        return { selectedOptions, timestamp: v.timestamp, sender: createWid(v.voter_lid ? v.voter_lid + '@lid' : v.sender + '@c.us') };
      });
      return { msgId: poll.id, chatId: poll.id.remote, votes };
    },
    async sendCreatePollMessage(chatId, name, choices, options) {
      options = options || {};
      if (!Array.isArray(choices) || choices.length < 2) throw new WPPError('invalid_poll', 'a poll needs at least two choices');
      const extra = { pollName: String(name), pollOptions: choices.map((c, i) => ({ name: String(c), localId: i })), pollSelectableOptionsCount: options.selectableCount || 0 };
      return sendMsg(chatId, { type: 'poll_creation', body: '', extra }, options);
    },
    async editMessage(msgId, newText, options) {
      assertAuth();
      const m = findModel(msgId);
      if (!m || !m.id.fromMe || m.type !== 'chat') throw new WPPError('edit_message_error', 'Cannot edit message ' + msgId);
      const res = await rpc('edit', { msg_id: m.id.id, body: String(newText) });
      m.body = String(newText);
      m.latestEditMsgKey = new MsgKey(true, m.id.remote, res.latestEditMsgKey.id);
      return { id: m.id._serialized, ack: m.ack, from: m.from._serialized, to: m.id.remote._serialized, latestEditMsgKey: m.latestEditMsgKey, sendMsgResult: { messageSendResult: 'OK', t: nowS(), count: null } };
    },
    async deleteMessage(chatId, ids, deleteMediaInDevice, revoke) {
      assertAuth();
      const c = createWid(chatId);
      const out = [];
      for (const id of Array.isArray(ids) ? ids : [ids]) {
        const m = findModel(id);
        if (!m || m.id.remote._serialized !== c._serialized) throw new WPPError('msg_not_found', 'Message not found: ' + id, { id: String(id) });
        if (revoke && m.id.fromMe) {
          await rpc('revoke', { msg_id: m.id.id });
          m.type = 'revoked';
          m.body = '';
          out.push({ id: m.id._serialized, sendMsgResult: 'OK', isRevoked: true, isDeleted: false, isSentByMe: true });
        } else {
          await rpc('hide', { id: m.id.id });
          S.msgs.delete(m.id._serialized);
          const list = S.chatMsgs.get(c._serialized) || [];
          const i = list.indexOf(m.id._serialized);
          if (i >= 0) list.splice(i, 1);
          out.push({ id: m.id._serialized, sendMsgResult: 'OK', isRevoked: false, isDeleted: true, isSentByMe: m.id.fromMe });
        }
      }
      return Array.isArray(ids) ? out : out[0];
    },
    async markIsRead(chatId) {
      assertAuth();
      const c = assertGetChat(chatId);
      const unreadCount = c.unreadCount;
      c.unreadCount = 0;
      await rpc('read', { chat: c.id._serialized });
      return { wid: c.id, unreadCount };
    },
    async markIsComposing(chatId, duration) { assertAuth(); return chatState(chatId, 'composing', duration); },
    async markIsRecording(chatId, duration) { assertAuth(); return chatState(chatId, 'recording', duration); },
    async markIsPaused(chatId) { assertAuth(); return chatState(chatId, 'paused'); },
    async starMessage(ids, star) {
      assertAuth();
      const one = !Array.isArray(ids);
      const list = await chatApi.getMessageById(one ? [ids] : ids);
      // As wa-js: the answer is taken before starring, so `star` is the state it had.
      const out = list.map((m) => ({ id: m.id._serialized, star: m.star || false }));
      const on = star === undefined ? true : !!star;
      for (const m of list) { await rpc('star', { id: m.id.id, star: on }); m.star = on; }
      return one ? out[0] : out;
    },
    async forwardMessages(toChatId, messages, options) {
      assertAuth();
      const o = options || {};
      const c = await findChat(toChatId);
      const msgs = [];
      for (const x of messages) msgs.push(await chatApi.getMessageById(x));
      const out = [];
      for (const m of msgs) {
        const extra = {};
        for (const k of ['caption', 'filename', 'mimetype', 'lat', 'lng', 'loc', 'vcardFormattedName', 'vcardList', 'pollName', 'pollOptions', 'pollSelectableOptionsCount', 'isViewOnce', 'isGif']) if (m[k] !== undefined) extra[k] = m[k];
        if (m.isMedia && !o.displayCaptionText) extra.caption = undefined;
        extra.isForwarded = true;
        extra.forwardingScore = (m.forwardingScore || 0) + 1;
        const body = m.type === 'chat' && o.appendedText ? m.body + '\n' + o.appendedText : m.body;
        out.push(await sendMsg(c.id, { type: m.type, body, extra, forwardOf: m.isMedia ? m.id.id : null }, { markIsRead: false, detectMentioned: false }));
      }
      return out;
    },
    async getMessages(chatId, options) {
      // As wa-js 4.6.0: without `id` the anchor is the chat's lastReceivedKey (the last message
      // *received*), and the answer is count-1 messages in `direction` from it plus the anchor
      // itself, last; with `id`, `count` messages strictly before/after it. `-1` = all.
      // `onlyUnread` only caps the count at the unread count.
      const o = options || {};
      const c = assertGetChat(chatId);
      let count = o.count || 20;
      const dir = o.direction === 'after' ? 'after' : 'before';
      const anchorId = o.id || (c.lastReceivedKey ? c.lastReceivedKey._serialized : null);
      if (o.onlyUnread) {
        if (!(c.unreadCount > 0)) return [];
        count = count < 0 ? c.unreadCount : Math.min(count, c.unreadCount);
      }
      if (count === -1) count = Infinity;
      if (!o.id && anchorId) count--;
      const full = (S.chatMsgs.get(c.id._serialized) || []).map((k) => S.msgs.get(k)).filter(Boolean);
      const pick = o.media ? (m) => m.isMedia && (o.media === 'all' || o.media === 'url' || o.media === 'document' ? (o.media !== 'document' || m.type === 'document') : m.type === o.media) : () => true;
      const anchor = anchorId ? findModel(anchorId) : undefined;
      if (anchorId && !anchor) return [];
      const i = anchor ? full.indexOf(anchor) : (dir === 'before' ? full.length : -1);
      let out;
      if (dir === 'before') {
        const pool = full.slice(0, i).filter(pick);
        out = count > 0 ? pool.slice(Math.max(0, pool.length - count)) : [];
      } else {
        const pool = full.slice(i + 1).filter(pick);
        out = count > 0 ? pool.slice(0, count) : [];
      }
      if (!o.id && anchor) out.push(anchor);
      return out;
    },
    async getMessageById(ids) {
      const one = async (id) => {
        const local = findModel(id);
        if (local) return local;
        try {
          return addMsg(await rpc('get_msg', { id: String(id && id._serialized ? id._serialized : id) }), 'quiet').model;
        } catch (e) {
          throw new WPPError('msg_not_found', 'Message not found: ' + id, { id: String(id) });
        }
      };
      return Array.isArray(ids) ? Promise.all(ids.map(one)) : one(ids);
    },
    async list(options) {
      const o = options || {};
      let list = Array.from(S.chats.values()).sort((a, b) => b.t - a.t);
      if (o.onlyUsers) list = list.filter((c) => c.isUser);
      if (o.onlyGroups) list = list.filter((c) => c.isGroup);
      if (o.onlyCommunities || o.onlyNewsletter || o.onlyArchived) list = [];
      if (o.onlyWithUnreadMessage) list = list.filter((c) => c.unreadCount > 0);
      if (o.count != null && o.count >= 0) list = list.slice(0, o.count);
      return list;
    },
    get(chatId) { return S.chats.get(createWid(chatId)._serialized); },
    find: findChat,
    async downloadMedia(msgId) {
      // As wa-js: getMessageById first (msg_not_found), then the media; a copy that is gone
      // from WhatsApp's servers throws the plain object {error, code: 'media_not_found'}.
      const m = await chatApi.getMessageById(msgId);
      if (!m.isMedia) throw new WPPError('message_not_contains_media', `Message ${msgId} not contains media`, { id: String(msgId) });
      let r;
      try { r = await rpc('media', { id: m.id.id }); } catch (e) {
        if (e && e.code === 'media_not_found') throw { error: true, code: 'media_not_found', message: 'Media not found after download for message ' + msgId };
        throw e;
      }
      const bin = atob(r.data);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new Blob([bytes], { type: r.mimetype });
    },
  };

  // ---------------------------------------------------------------- conn
  function armLinkTimer() {
    if (!S.link) return;
    clearTimeout(S.link.timer);
    S.link.timer = setTimeout(async () => {
      if (!S.link) return;
      if (S.link.refreshes >= T('link_code_refreshes', 5)) return emit('conn.link_code_expired');
      S.link.refreshes += 1;
      try { await conn.refreshLinkDeviceCode(); } catch (e) { emit('conn.link_code_error', e); }
    }, T('link_code_ttl_ms', 195000));
  }

  const conn = {
    isAuthenticated: () => S.authenticated,
    isRegistered: () => S.registered,
    isMainInit: () => S.mainInit,
    isMainLoaded: () => S.mainLoaded,
    isMainReady: () => S.mainReady,
    isIdle: () => S.socketState === 'UNPAIRED_IDLE',
    isOnline: () => S.online,
    isMultiDevice: () => true,
    needsUpdate: () => S.needsUpdate,
    getStreamData: () => ({ mode: S.streamMode, info: S.streamInfo || undefined }),
    async getAuthCode() { return S.authenticated || S.registered || S.idle || !S.authCode ? null : S.authCode; },
    async refreshQR() {
      if (S.authenticated) return null;
      clearLink();
      S.idle = false;
      S.socketState = 'UNPAIRED';
      setAuthCode(await rpc('refresh_qr'));
      return S.authCode;
    },
    logout() {
      return new Promise((resolve) => {
        S.logoutWaiters.push(resolve);
        rpc('logout').catch(() => undefined).then(() => doLogout('user_initiated'));
      });
    },
    getMyUserId: () => (S.me ? meWid() : undefined),
    getMyUserWid: () => (S.me ? meWid() : undefined),
    getMyUserLid() { if (!S.me) throw new WPPError('lid_not_found', 'own lid is unknown'); return createWid(S.me.lid + '@lid'); },
    getMyDeviceId: () => (S.me ? createWid(S.me.device_id + '@c.us') : undefined),
    getPlatform: () => 'android',
    getBuildConstants() {
      if (!S.mainInit) return null;
      const [a, b, c] = VERSION_STR.split('.').map(Number);
      return { VERSION_STR, VERSION_BASE: VERSION_STR, VERSION_PRIMARY: a, VERSION_SECONDARY: b, VERSION_TERTIARY: c, PARSED: { PRIMARY: a, SECONDARY: b, TERTIARY: c } };
    },
    setKeepAlive(enable) { S.keepAlive = enable === undefined ? true : !!enable; return S.keepAlive; },
    async markAvailable() { return true; },
    async markUnavailable() { return true; },
    async genLinkDeviceCodeForPhoneNumber(phone, sendPushNotification) {
      if (!phone) throw new WPPError('send_the_phone_number_to_connect', 'Send the phone number to connect');
      if (S.authenticated) throw new WPPError('cannot_get_code_for_already_authenticated', 'Cannot get code for already authenticated');
      const code = await rpc('link_code', { phone: String(phone), push: sendPushNotification !== false });
      S.authCode = null;
      if (!S.link || S.link.phone !== String(phone)) { clearLink(); S.link = { phone: String(phone), refreshes: 0 }; }
      S.link.code = code;
      renderLink();
      return code;
    },
    async startLinkDeviceCodeForPhoneNumber(phone, sendPushNotification) {
      if (S.link && S.link.managed && S.link.phone === String(phone) && S.link.code) {
        emit('conn.link_code_change', S.link.code);
        return S.link.code;
      }
      const code = await conn.genLinkDeviceCodeForPhoneNumber(phone, sendPushNotification);
      S.link.managed = true;
      armLinkTimer();
      emit('conn.link_code_change', code);
      return code;
    },
    async refreshLinkDeviceCode() {
      if (!S.link || !S.link.phone) throw new WPPError('link_code_not_active', 'No active link code');
      const code = await rpc('link_code', { phone: S.link.phone });
      S.link.code = code;
      renderLink();
      armLinkTimer();
      emit('conn.link_code_change', code);
      return code;
    },
    async cancelLinkDeviceCode() {
      clearLink();
      await rpc('link_cancel');
      return true;
    },
  };

  // ---------------------------------------------------------------- contact, group, util
  function contactModel(wid, pushname) {
    return { id: wid, name: pushname || undefined, shortName: pushname || undefined, pushname: pushname || undefined, isBusiness: false, isMyContact: true, isMe: false, isUser: true, isGroup: false, verifiedName: undefined, labels: [], username: undefined };
  }

  const contact = {
    async list(options) {
      if (S.authenticated) for (const c of await rpc('contacts')) S.contacts.set(c.phone + '@c.us', { pushname: c.pushname });
      return Array.from(S.contacts.entries()).map(([id, c]) => contactModel(createWid(id), c.pushname));
    },
    async get(id) {
      const wid = createWid(id);
      const c = S.contacts.get(wid._serialized);
      return c ? contactModel(wid, c.pushname) : undefined;
    },
    async queryWidExists(id) {
      const wid = createWid(id);
      const r = await rpc('exists', { id: wid._serialized });
      if (!r) return null;
      return { wid: r.phone ? createWid(r.phone + '@c.us') : createWid(r.lid + '@lid'), biz: false, lid: createWid(r.lid + '@lid'), disappearingMode: { duration: 0, settingTimestamp: 0 } };
    },
    async queryExists(id) { return contact.queryWidExists(id); },
    async getProfilePictureUrl(id, full) { return rpc('picture', { id: createWid(id)._serialized }); },
    async getPnLidEntry(id) {
      const wid = createWid(id);
      if (!wid.isUser()) throw new WPPError('invalid_wid', 'getPnLidEntry takes a @c.us or @lid id');
      const r = await rpc('exists', { id: wid._serialized });
      if (!r) return {};
      const name = r.pushname || undefined;
      const out = { lid: { id: r.lid, server: 'lid', _serialized: r.lid + '@lid' } };
      // A LID whose phone number this account may not see maps to no phone number.
      if (r.phone) out.phoneNumber = { id: r.phone, server: 'c.us', _serialized: r.phone + '@c.us' };
      out.contact = { name, shortName: name, pushname: name, type: 'in', verifiedName: undefined, isBusiness: false };
      return out;
    },
  };

  const digitsOf = (x) => createWid(x).user;
  const group = {
    async create(name, participants, parentGroup) {
      assertAuth();
      const list = (Array.isArray(participants) ? participants : [participants]).map(digitsOf);
      const r = await rpc('group_create', { name: String(name), participants: list });
      const parts = {};
      for (const [k, v] of Object.entries(r.participants)) parts[k] = Object.assign({}, v, { wid: createWid(v.wid) });
      return { gid: createWid(r.gid), participants: parts };
    },
    async getAllGroups() { return Array.from(S.chats.values()).filter((c) => c.isGroup); },
    async getParticipants(groupId) {
      const r = await rpc('group_participants', { gid: createWid(groupId)._serialized });
      return r.map((p) => ({ id: createWid(p.id), isAdmin: p.isAdmin, isSuperAdmin: p.isSuperAdmin }));
    },
    async addParticipants(groupId, ids) {
      const list = (Array.isArray(ids) ? ids : [ids]).map(digitsOf);
      const r = await rpc('group_add', { gid: createWid(groupId)._serialized, participants: list });
      for (const v of Object.values(r)) v.wid = createWid(v.wid);
      return r;
    },
    async getInviteCode(groupId) { return rpc('group_invite', { gid: createWid(groupId)._serialized }); },
  };

  const util = { blobToBase64 };

  async function rejectCall(callId) {
    const c = S.calls.get(callId);
    if (!c) throw new WPPError('call_not_found', `Call ${callId || '<empty>'} not found`, { callId });
    await rpc('call_reject', { id: callId });
    c.state = 'rejected';
    return true;
  }
  const callApi = { reject: rejectCall, rejectCall };

  // ---------------------------------------------------------------- WPP
  // WPPConfig is read once, when this script runs (the engine sets it in an init script before).
  const config = Object.assign({
    deviceName: false, liveLocationLimit: 10, disableGoogleAnalytics: false, googleAnalyticsId: null,
    googleAnalyticsUserProperty: {}, linkPreviewApiServers: null, poweredBy: 'WA-JS', sendStatusToDevice: false, syncAllStatus: true,
  }, (window.WPPConfig && typeof window.WPPConfig === 'object') ? window.WPPConfig : {});
  window.WPPConfig = config;

  const nextOf = (name) => (fn, delay) => { once(name, () => setTimeout(fn, delay || 0)); };
  const loader = { onInjected: nextOf('loader.injected'), onReady: nextOf('loader.ready'), onFullReady: nextOf('loader.full_ready') };

  // Reads of names outside the contract throw, so an engine that strays fails loudly.
  const TOLERATED = new Set(['then', 'toJSON', 'constructor', 'valueOf', 'toString', 'inspect', 'nodeType', '$$typeof', 'asymmetricMatch', 'hasOwnProperty', 'length', 'prototype']);
  function strict(path, target) {
    return new Proxy(target, {
      get(t, k, r) {
        if (typeof k === 'symbol' || k in t) return Reflect.get(t, k, r);
        if (TOLERATED.has(k)) return undefined;
        throw new WPPError('wa_sim_not_implemented', `WPP.${path ? path + '.' : ''}${k} is not part of the wa-sim contract (wa-bridge-contract.md, Appendix A)`);
      },
    });
  }

  const root = {
    version: '4.6.0', supportedWhatsappWeb: '>=2.3000.1038792969-alpha', license: 'Apache-2.0',
    isInjected: false, isReady: false, isFullReady: false,
    // EventEmitter2 surface of wa-js (created WITHOUT wildcard: 'conn.*' is a literal name there too).
    on, once, off, onAny, offAny, waitFor, emit, addListener: on, removeListener: off,
    removeAllListeners(name) { if (name === undefined) { listeners.clear(); anyListeners.length = 0; } else listeners.delete(name); return WPP; },
    listenerCount(name) { return name === undefined ? Array.from(listeners.values()).reduce((n, l) => n + l.length, 0) : (listeners.get(name) || []).length; },
    eventNames() { return Array.from(listeners.keys()).filter((n) => listeners.get(n).length > 0); },
    config, loader: strict('loader', loader), conn: strict('conn', conn), chat: strict('chat', chatApi), call: strict('call', callApi),
    contact: strict('contact', contact), group: strict('group', group), util: strict('util', util),
  };
  const WPP = strict('', root);
  Object.defineProperty(window, 'WPP', { value: WPP, writable: true, configurable: true, enumerable: true });

  // Simulator-only view for debugging; the control API is the way to drive it.
  window.__sim = Object.freeze({ pageId: S.pageId, state: () => ({ socketState: S.socketState, streamMode: S.streamMode, streamInfo: S.streamInfo, me: S.me, authenticated: S.authenticated }) });

  async function start() {
    if (T('require_service_worker', true) && navigator.serviceWorker) {
      try {
        await navigator.serviceWorker.register('/sw.js', { scope: '/' });
        await navigator.serviceWorker.ready;
      } catch (e) { console.warn('wa-sim: service worker', e); }
    }
    S.creds = await loadCreds();
    if (S.creds) S.registered = true;
    connect();
  }
  start();
})();
