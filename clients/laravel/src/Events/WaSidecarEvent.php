<?php

namespace WaSidecar\Laravel\Events;

use WaSidecar\Laravel\Webhooks\WebhookPayload;

/**
 * Implemented by every event made from a callback: Event::listen(WaSidecarEvent::class, …) gets
 * them all (Laravel matches listeners by class and interface, not by parent class).
 *
 * @property-read WebhookPayload $payload
 */
interface WaSidecarEvent
{
    public function workspace(): string;

    public function session(): string;

    public function data(): array;
}
