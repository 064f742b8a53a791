<?php

namespace WaSidecar\Laravel\Webhooks;

/**
 * One verified callback of wa-sidecar (docs/callbacks.md): its id (the webhook-id, the same on every
 * retry), type, when it happened, which session it is about, and the type's own data.
 */
final class WebhookPayload
{
    public function __construct(
        public readonly string $id,
        public readonly string $type,
        public readonly string $workspace,
        public readonly string $session,
        public readonly ?string $timestamp,
        public readonly array $data,
    ) {
    }

    /** From the decoded body; the id is the verified webhook-id header. */
    public static function fromArray(string $webhookId, array $body): self
    {
        return new self(
            $webhookId,
            is_string($body['type'] ?? null) ? $body['type'] : '',
            is_string($body['workspace'] ?? null) ? $body['workspace'] : '',
            is_string($body['session'] ?? null) ? $body['session'] : '',
            is_string($body['timestamp'] ?? null) ? $body['timestamp'] : null,
            is_array($body['data'] ?? null) ? $body['data'] : [],
        );
    }

    public function get(string $key, mixed $default = null): mixed
    {
        return $this->data[$key] ?? $default;
    }
}
