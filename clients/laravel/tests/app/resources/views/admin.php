<!doctype html>
<html>
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>WhatsApp link: <?= e($workspace) ?>/<?= e($session) ?></title>
<script src="/js/pusher.js"></script>
<script src="/js/echo.js"></script>
</head>
<body>
<h1>Link WhatsApp</h1>
<div id="whatsapp-link"></div>
<script type="module">
import { mountSessionQr } from '/vendor/wa-sidecar/wa-sidecar-qr.js';

// laravel-echo's IIFE build exposes the module namespace: the class is its default export.
const EchoClass = window.Echo.default || window.Echo;
const echo = new EchoClass({
    broadcaster: 'pusher',
    Pusher,
    key: <?= json_encode($pusherKey) ?>,
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: <?= (int) $pusherPort ?>,
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: '/broadcasting/auth',
    auth: { headers: { Authorization: 'Bearer ' + <?= json_encode($token) ?>, Accept: 'application/json' } },
});
// What arrives, in the browser console (the live test prints it on failure).
echo.private('workspace.' + <?= json_encode($workspace) ?>)
    .listen('.session.status', (e) => console.log('session.status', e.state))
    .listen('.session.qr', (e) => console.log('session.qr', e.attempt));
window.waQr = mountSessionQr(echo, document.getElementById('whatsapp-link'), {
    workspace: <?= json_encode($workspace) ?>,
    session: <?= json_encode($session) ?>,
});
</script>
</body>
</html>
