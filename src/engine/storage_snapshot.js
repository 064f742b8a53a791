// wa-sidecar, pooled mode: the storage snapshot of the app's origin, and its restore. Evaluated by
// the engine as `(SOURCE)(mode, input)`: mode "take" answers the snapshot as a JSON string; mode
// "restore" fills this (fresh, empty) origin from one and answers a summary.
//
// Every non-primitive value is tagged ({"$": kind, ...}) so a plain object can never be mistaken
// for an encoded one. CryptoKeys are exported (storage_init.js made them extractable) with their
// algorithm and usages, and imported again, extractable, on restore.
async (mode, input) => {
  const b64 = (buf) => {
    const bytes = new Uint8Array(buf);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const asked = (k) => (window.__waSidecarKeyAsked ? window.__waSidecarKeyAsked(k) : null);

  const enc = async (v) => {
    if (v === undefined) return { $: 'undef' };
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : { $: 'num', v: String(v) };
    if (typeof v === 'bigint') return { $: 'big', v: v.toString() };
    if (Array.isArray(v)) { const out = []; for (const x of v) out.push(await enc(x)); return { $: 'arr', v: out }; }
    if (v instanceof ArrayBuffer) return { $: 'ab', v: b64(v) };
    if (ArrayBuffer.isView(v)) {
      return { $: 'view', t: v.constructor.name, v: b64(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) };
    }
    if (v instanceof Date) return { $: 'date', v: v.getTime() };
    if (v instanceof RegExp) return { $: 're', src: v.source, flags: v.flags };
    if (typeof CryptoKey !== 'undefined' && v instanceof CryptoKey) {
      const format = v.type === 'secret' ? 'raw' : v.type === 'private' ? 'pkcs8' : 'spki';
      const data = await crypto.subtle.exportKey(format, v);
      return { $: 'key', format, alg: await enc(v.algorithm), usages: v.usages, asked: asked(v), v: b64(data) };
    }
    if (typeof Blob !== 'undefined' && v instanceof Blob) {
      const data = await v.arrayBuffer();
      return { $: 'blob', type: v.type, name: v instanceof File ? v.name : null, v: b64(data) };
    }
    if (v instanceof Map) { const out = []; for (const [k, x] of v) out.push([await enc(k), await enc(x)]); return { $: 'map', v: out }; }
    if (v instanceof Set) { const out = []; for (const x of v) out.push(await enc(x)); return { $: 'set', v: out }; }
    const out = {};
    for (const k of Object.keys(v)) out[k] = await enc(v[k]);
    return { $: 'obj', v: out };
  };

  const dec = async (v) => {
    if (v === null || typeof v !== 'object') return v;
    switch (v.$) {
      case 'undef': return undefined;
      case 'num': return Number(v.v);
      case 'big': return BigInt(v.v);
      case 'arr': { const out = []; for (const x of v.v) out.push(await dec(x)); return out; }
      case 'ab': return unb64(v.v).buffer;
      case 'view': {
        const bytes = unb64(v.v);
        const Ctor = v.t === 'DataView' ? DataView : (window[v.t] || Uint8Array);
        if (Ctor === DataView) return new DataView(bytes.buffer);
        return new Ctor(bytes.buffer, 0, bytes.byteLength / (Ctor.BYTES_PER_ELEMENT || 1));
      }
      case 'date': return new Date(v.v);
      case 're': return new RegExp(v.src, v.flags);
      case 'key': return crypto.subtle.importKey(v.format, unb64(v.v), await dec(v.alg), true, v.usages);
      case 'blob': return v.name !== null ? new File([unb64(v.v)], v.name, { type: v.type }) : new Blob([unb64(v.v)], { type: v.type });
      case 'map': { const m = new Map(); for (const [k, x] of v.v) m.set(await dec(k), await dec(x)); return m; }
      case 'set': { const s = new Set(); for (const x of v.v) s.add(await dec(x)); return s; }
      case 'obj': { const out = {}; for (const k of Object.keys(v.v)) out[k] = await dec(v.v[k]); return out; }
      default: throw new Error('unknown snapshot tag ' + v.$);
    }
  };

  const req = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
  const done = (tx) => new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); tx.onabort = () => reject(tx.error); });

  const takeDb = async (name) => {
    const open = indexedDB.open(name);
    // Opening a name that vanished meanwhile would create it: abort that.
    let created = false;
    open.onupgradeneeded = () => { created = true; open.transaction.abort(); };
    let db;
    try { db = await req(open); } catch (e) { if (created) return null; throw e; }
    db.onversionchange = () => db.close();
    try {
      const names = Array.from(db.objectStoreNames);
      const stores = [];
      const raw = [];
      if (names.length) {
        const tx = db.transaction(names, 'readonly');
        for (const n of names) {
          const s = tx.objectStore(n);
          const indexes = Array.from(s.indexNames).map((i) => {
            const x = s.index(i);
            return { name: x.name, keyPath: x.keyPath, unique: x.unique, multiEntry: x.multiEntry };
          });
          raw.push({ name: n, keyPath: s.keyPath, autoIncrement: s.autoIncrement, indexes, keys: req(s.getAllKeys()), values: req(s.getAll()) });
        }
        await done(tx);
      }
      for (const r of raw) {
        const keys = await r.keys;
        const values = await r.values;
        const records = [];
        for (let i = 0; i < keys.length; i++) records.push([await enc(keys[i]), await enc(values[i])]);
        stores.push({ name: r.name, keyPath: r.keyPath, autoIncrement: r.autoIncrement, indexes: r.indexes, records });
      }
      return { name, version: db.version, stores };
    } finally { db.close(); }
  };

  const take = async () => {
    const dbs = [];
    for (const info of await indexedDB.databases()) {
      const db = await takeDb(info.name);
      if (db) dbs.push(db);
    }
    const local = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      local.push([k, localStorage.getItem(k)]);
    }
    return JSON.stringify({ format: 1, origin: location.origin, taken_at: Date.now(), indexeddb: dbs, local_storage: local });
  };

  const restoreDb = async (d) => {
    const open = indexedDB.open(d.name, d.version);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const s of d.stores) {
        const opts = { autoIncrement: s.autoIncrement };
        if (s.keyPath !== null) opts.keyPath = s.keyPath;
        const store = db.createObjectStore(s.name, opts);
        for (const i of s.indexes) store.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
      }
    };
    const db = await req(open);
    try {
      // Decode first (importKey is async and would let a transaction commit early).
      const plan = [];
      let count = 0;
      for (const s of d.stores) {
        const records = [];
        for (const [k, v] of s.records) records.push([await dec(k), await dec(v)]);
        plan.push({ name: s.name, inline: s.keyPath !== null, records });
        count += records.length;
      }
      const names = plan.map((p) => p.name);
      if (names.length) {
        const tx = db.transaction(names, 'readwrite');
        for (const p of plan) {
          const store = tx.objectStore(p.name);
          for (const [k, v] of p.records) { if (p.inline) store.put(v); else store.put(v, k); }
        }
        await done(tx);
      }
      return count;
    } finally { db.close(); }
  };

  const restore = async (text) => {
    const snap = JSON.parse(text);
    if (snap.format !== 1) throw new Error('unknown snapshot format ' + snap.format);
    if (snap.origin !== location.origin) throw new Error('the snapshot is of ' + snap.origin + ', this page is ' + location.origin);
    let records = 0;
    for (const d of snap.indexeddb) records += await restoreDb(d);
    for (const [k, v] of snap.local_storage) localStorage.setItem(k, v);
    return JSON.stringify({ databases: snap.indexeddb.length, records, local_storage: snap.local_storage.length });
  };

  if (mode === 'take') return take();
  if (mode === 'restore') return restore(input);
  throw new Error('unknown mode ' + mode);
}
