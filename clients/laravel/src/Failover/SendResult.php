<?php

namespace WaSidecar\Laravel\Failover;

/** Where a logical message went: the provider, its id there, and the host's id for it. */
final class SendResult
{
    public function __construct(
        public readonly string $hostId,
        public readonly string $provider,
        public readonly string $providerMessageId,
        public readonly array $response = [],
        public readonly bool $repeat = false,
    ) {
    }

    public function toArray(): array
    {
        return ['host_id' => $this->hostId, 'provider' => $this->provider, 'provider_message_id' => $this->providerMessageId];
    }

    public static function fromArray(array $a, bool $repeat = false): self
    {
        return new self((string) $a['host_id'], (string) $a['provider'], (string) $a['provider_message_id'], [], $repeat);
    }
}
