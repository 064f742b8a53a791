<?php

use Illuminate\Support\Facades\Route;

Route::waSidecarWebhooks('/webhooks/wa-sidecar');
Route::waSidecarCloudWebhooks('/webhooks/whatsapp-cloud');

// The admin's page: the QR component of wa-sidecar/laravel on Echo over pusher-js.
Route::get('/admin/{workspace}/{session}', function (string $workspace, string $session) {
    return view('admin', [
        'workspace' => $workspace,
        'session' => $session,
        'token' => request()->query('token', ''),
        'pusherKey' => (string) env('PUSHER_APP_KEY', ''),
        'pusherPort' => (int) env('PUSHER_PORT', 6001),
    ]);
});

// Browser libraries from npm (pusher-js, laravel-echo), served from the test's node_modules.
Route::get('/js/{file}', function (string $file) {
    $map = [
        'pusher.js' => 'pusher-js/dist/web/pusher.js',
        'echo.js' => 'laravel-echo/dist/echo.iife.js',
    ];
    $path = rtrim((string) env('WA_TEST_NODE_MODULES', ''), '/').'/'.($map[$file] ?? '-');
    abort_unless(isset($map[$file]) && is_file($path), 404);

    return response(file_get_contents($path), 200, ['Content-Type' => 'text/javascript']);
});

Route::get('/vendor/wa-sidecar/{file}', function (string $file) {
    $path = base_path('vendor/wa-sidecar/laravel/resources/js/'.basename($file));
    abort_unless(is_file($path), 404);

    return response(file_get_contents($path), 200, ['Content-Type' => 'text/javascript']);
});
