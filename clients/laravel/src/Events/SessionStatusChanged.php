<?php

namespace WaSidecar\Laravel\Events;

use Illuminate\Contracts\Broadcasting\ShouldBroadcast;
use WaSidecar\Laravel\Webhooks\WebhookPayload;

/** `session.status`: the session's state changed (data: state, previous, reason, phone, recoveries). */
class SessionStatusChanged extends SidecarEvent implements ShouldBroadcast
{
    use BroadcastsToWorkspace;

    /** Queue connection for the broadcast job (null: the default). */
    public ?string $connection;

    public function __construct(WebhookPayload $payload)
    {
        parent::__construct($payload);
        $this->connection = config('wa-sidecar.broadcast.connection');
    }

    public function state(): ?string
    {
        return $this->payload->get('state');
    }

    public function broadcastWith(): array
    {
        $d = $this->payload->data;

        return [
            'workspace' => $this->payload->workspace,
            'session' => $this->payload->session,
            'state' => $d['state'] ?? null,
            'previous' => $d['previous'] ?? null,
            'reason' => $d['reason'] ?? null,
            'phone' => $d['phone'] ?? null,
        ];
    }
}
