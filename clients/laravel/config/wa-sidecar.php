<?php

// wa-sidecar: how this app talks to the sidecar, and how it receives the sidecar's callbacks.
// Secrets come from the environment; never commit them.
return [

    // Base URL of the sidecar, without a trailing slash.
    'url' => env('WA_SIDECAR_URL', 'http://127.0.0.1:8787'),

    // The HMAC key this app signs its requests with (README.md, "Signing requests"): its id and
    // the base64 key itself (at least 32 bytes once decoded).
    'key_id' => env('WA_SIDECAR_KEY_ID'),
    'key' => env('WA_SIDECAR_KEY'),

    // Seconds for a whole request, and for the connection alone.
    'timeout' => (int) env('WA_SIDECAR_TIMEOUT', 30),
    'connect_timeout' => (int) env('WA_SIDECAR_CONNECT_TIMEOUT', 5),

    // Retries of a failed attempt (connection error, 408, 429, 502, 503, 504). Every attempt is
    // signed afresh (new nonce and timestamp) and keeps the first attempt's Idempotency-Key.
    'retry' => [
        'times' => (int) env('WA_SIDECAR_RETRIES', 2),
        'sleep_ms' => 200,
        'max_sleep_ms' => 5000,
    ],

    'webhooks' => [
        // The whsec_ secrets callbacks may be signed with, separated by spaces or commas (several
        // during a rotation). Same values as the sidecar's callbacks.secrets.
        'secrets' => env('WA_SIDECAR_WEBHOOK_SECRETS', ''),

        // Largest accepted webhook-timestamp distance from now, in seconds.
        'tolerance' => 300,

        // Largest accepted body, in bytes. The sidecar's events are a few KB.
        'max_bytes' => 262144,

        // How long a webhook-id is remembered to refuse replays. The sidecar retries one event
        // for about three days with the same id, so keep this longer than that.
        'replay_ttl' => 4 * 24 * 3600,

        // Cache store for seen webhook ids (null: the default store). Use a shared, persistent
        // store (redis, database, file): the "array" store forgets between requests.
        'cache_store' => env('WA_SIDECAR_WEBHOOK_CACHE'),

        // Extra or replacement event classes, by callback type: ['message.received' => MyEvent::class].
        // Each class takes a WaSidecar\Laravel\Webhooks\WebhookPayload in its constructor.
        'events' => [],
    ],

    'broadcast' => [
        // Whether SessionQrUpdated and SessionStatusChanged are broadcast (ShouldBroadcast).
        'enabled' => (bool) env('WA_SIDECAR_BROADCAST', true),

        // Private channel name per workspace; "{workspace}" is replaced. Laravel adds "private-".
        'channel' => env('WA_SIDECAR_BROADCAST_CHANNEL', 'workspace.{workspace}'),

        // Broadcast connection and queue (null: the app's defaults).
        'connection' => env('WA_SIDECAR_BROADCAST_CONNECTION'),
        'queue' => env('WA_SIDECAR_BROADCAST_QUEUE'),
    ],
];
