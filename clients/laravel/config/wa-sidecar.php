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

    // Failing over to Meta's WhatsApp Cloud API (README.md, "Failing over to the Cloud API"):
    // WaSidecar\Laravel\Failover\ProviderSelector sends by the web session while it is
    // connected, else by the workspace's Cloud number.
    'failover' => [
        // The sidecar's webhook route feeds the selector (session states, web statuses) only when on.
        'enabled' => (bool) env('WA_FAILOVER', false),

        // The session that is "web" for a workspace unless the workspace names its own.
        'session' => env('WA_FAILOVER_SESSION', 'main'),

        // Where the selector keeps its state (null: the default store). Share it between workers.
        'cache_store' => env('WA_FAILOVER_CACHE'),

        // A session.status older than this (seconds) is confirmed with a GET before a web send.
        'status_stale_after' => 30,

        // After a failover, web takes over again once connected for this long (seconds).
        'return_after' => (int) env('WA_FAILOVER_RETURN_AFTER', 60),

        // Web failures (409 SESSION_NOT_READY, timeouts, unreachable) within `window` seconds
        // that open the breaker, and how long it keeps web out.
        'breaker' => ['failures' => 3, 'window' => 60, 'open_for' => 60],

        // Seconds for a web send (the failover client retries once, with the same Idempotency-Key).
        'web_timeout' => 10,
        'web_connect_timeout' => 3,

        // Web failures that send the same message again by Cloud (same host id).
        'resend_on_web_failure' => ['expired'],

        // The Graph API: base URL (no trailing slash), version, timeout; seconds Cloud rests
        // after a rate limit (130429) or a temporary error.
        'graph_url' => env('WA_CLOUD_GRAPH_URL', 'https://graph.facebook.com'),
        'graph_version' => env('WA_CLOUD_GRAPH_VERSION', 'v21.0'),
        'cloud_timeout' => 10,
        'cloud_backoff' => 30,

        // The Meta app's secret (X-Hub-Signature-256 of Cloud webhooks) and the verify token of
        // the webhook subscription (GET hub.verify_token).
        'app_secret' => env('WA_CLOUD_APP_SECRET', ''),
        'verify_token' => env('WA_CLOUD_VERIFY_TOKEN', ''),

        // Per workspace: its web session, its Cloud number and token, and the templates that
        // stand in for an intent outside the 24-hour window:
        // 'acme' => ['session' => 'main', 'phone_number_id' => '1065…', 'token' => env('ACME_CLOUD_TOKEN'),
        //     'templates' => ['order_update' => ['name' => 'order_update', 'language' => 'en_US']]],
        'workspaces' => [],
    ],
];
