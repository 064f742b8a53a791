<?php

namespace WaSidecar\Laravel\Events;

use WaSidecar\Laravel\Webhooks\WebhookPayload;

/**
 * Base of every event made from a wa-sidecar callback. `payload` holds the id (deduplicated
 * already), type, workspace, session, time and the type's data (docs/sessions.md, DESIGN.md
 * "Messages"). Listen to a subclass, or to the WaSidecarEvent interface for all of them.
 */
abstract class SidecarEvent implements WaSidecarEvent
{
    public function __construct(public readonly WebhookPayload $payload)
    {
    }

    public function workspace(): string
    {
        return $this->payload->workspace;
    }

    public function session(): string
    {
        return $this->payload->session;
    }

    public function data(): array
    {
        return $this->payload->data;
    }
}
