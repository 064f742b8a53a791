// wa-sidecar, pooled mode only: runs at document start, before any script of the page. A pooled
// session lives in an off-the-record browser context, so its login survives only as the storage
// snapshot the engine takes (see storage.rs). Two things make that snapshot possible:
// 1. CryptoKeys are created extractable whatever the page asks, so the snapshot can export them.
//    The flag the page asked for is remembered and reported by `extractable`, so the page's own
//    logic sees what it asked for.
// 2. Writes to IndexedDB and localStorage set a dirty mark that the engine polls and clears.
(() => {
  if (window.__waSidecarStorage) return;
  window.__waSidecarStorage = true;
  window.__waSidecarStorageDirty = false;
  const dirty = () => { window.__waSidecarStorageDirty = true; };

  const subtle = window.crypto && window.crypto.subtle;
  const asked = new WeakMap();
  const remember = (result, extractable) => {
    const mark = (k) => { if (k && typeof k === 'object') asked.set(k, !!extractable); };
    if (result && result.privateKey) { mark(result.privateKey); mark(result.publicKey); } else mark(result);
    return result;
  };
  if (subtle) {
    const wrap = (name, at) => {
      const orig = subtle[name];
      if (typeof orig !== 'function') return;
      subtle[name] = function (...args) {
        const extractable = args[at];
        args[at] = true;
        return orig.apply(this, args).then((r) => remember(r, extractable));
      };
    };
    // The position of `extractable` in each call.
    wrap('generateKey', 1);
    wrap('importKey', 3);
    wrap('deriveKey', 3);
    wrap('unwrapKey', 5);
    const proto = window.CryptoKey && window.CryptoKey.prototype;
    const own = proto && Object.getOwnPropertyDescriptor(proto, 'extractable');
    if (own && own.get) {
      Object.defineProperty(proto, 'extractable', {
        configurable: true,
        get() { return asked.has(this) ? asked.get(this) : own.get.call(this); },
      });
    }
    window.__waSidecarKeyAsked = (k) => (asked.has(k) ? asked.get(k) : null);
  }

  const IDB = window.IDBObjectStore && window.IDBObjectStore.prototype;
  if (IDB) {
    for (const m of ['put', 'add', 'delete', 'clear']) {
      const orig = IDB[m];
      IDB[m] = function (...args) { dirty(); return orig.apply(this, args); };
    }
  }
  const CURSOR = window.IDBCursor && window.IDBCursor.prototype;
  if (CURSOR) {
    for (const m of ['update', 'delete']) {
      const orig = CURSOR[m];
      CURSOR[m] = function (...args) { dirty(); return orig.apply(this, args); };
    }
  }
  const FACTORY = window.IDBFactory && window.IDBFactory.prototype;
  if (FACTORY) {
    const orig = FACTORY.deleteDatabase;
    FACTORY.deleteDatabase = function (...args) { dirty(); return orig.apply(this, args); };
  }
  const STORE = window.Storage && window.Storage.prototype;
  if (STORE) {
    for (const m of ['setItem', 'removeItem', 'clear']) {
      const orig = STORE[m];
      STORE[m] = function (...args) { if (this === window.localStorage) dirty(); return orig.apply(this, args); };
    }
  }
})();
