<?php

namespace WaSidecar\Laravel\Events;

use Illuminate\Contracts\Broadcasting\ShouldBroadcast;
use WaSidecar\Laravel\Webhooks\WebhookPayload;

/**
 * `session.qr`: a new QR to scan (data: raw, data_url, attempt, max_attempts, expires_at).
 * Broadcast without data_url (an image would break Pusher's 10 KB limit): the browser draws `raw`.
 */
class SessionQrUpdated extends SidecarEvent implements ShouldBroadcast
{
    use BroadcastsToWorkspace;

    /** Queue connection for the broadcast job (null: the default). */
    public ?string $connection;

    public function __construct(WebhookPayload $payload)
    {
        parent::__construct($payload);
        $this->connection = config('wa-sidecar.broadcast.connection');
    }

    public function raw(): ?string
    {
        return $this->payload->get('raw');
    }

    public function broadcastWith(): array
    {
        $d = $this->payload->data;

        return [
            'workspace' => $this->payload->workspace,
            'session' => $this->payload->session,
            'raw' => $d['raw'] ?? null,
            'attempt' => $d['attempt'] ?? null,
            'max_attempts' => $d['max_attempts'] ?? null,
            'expires_at' => $d['expires_at'] ?? null,
        ];
    }
}
