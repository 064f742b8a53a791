// wa-sim service worker: WhatsApp Web registers one; so do we, to keep CDP clients honest
// about service-worker targets (see chromium-notes, gotcha 2). It takes control at once and
// caches nothing.
self.addEventListener('install', (e) => { e.waitUntil(self.skipWaiting()); });
self.addEventListener('activate', (e) => { e.waitUntil(self.clients.claim()); });
