<?php

namespace WaSidecar\Laravel\Events;

/**
 * `message.status`: a message sent through the API moved on (docs/messages.md, Statuses). Data: id,
 * wa_id, status (sent, delivered, read, played, failed, unconfirmed), ack, to, chat_id, type,
 * client_ref, timestamp, and error {code, message} when failed. Monotonic; one event per change.
 * With failover (ProviderSelector) the Cloud API's statuses arrive as this event too: session
 * `cloud`, data.provider `cloud`, data.host_id the host's id; one monotonic stream per host id.
 */
class MessageStatusChanged extends SidecarEvent
{
    /** The id sendMessage() answered. */
    public function messageId(): ?string
    {
        return $this->payload->get('id');
    }

    public function status(): ?string
    {
        return $this->payload->get('status');
    }

    /** What you passed as `client_ref` when sending (e.g. your own message id). */
    public function clientRef(): ?string
    {
        return $this->payload->get('client_ref');
    }

    /**
     * The host's own id for the message: with ProviderSelector, the same whichever provider sent
     * it (the web side's client_ref, the Cloud API's biz_opaque_callback_data).
     */
    public function hostId(): ?string
    {
        return $this->payload->get('host_id', $this->payload->get('client_ref'));
    }

    /** 'web' (the sidecar's session) or 'cloud' (the Cloud API webhook). */
    public function provider(): string
    {
        return $this->payload->get('provider', 'web');
    }

    public function failed(): bool
    {
        return $this->status() === 'failed';
    }

    /** @return array{code: string, message: string}|null e.g. recipient_not_on_whatsapp, expired */
    public function error(): ?array
    {
        return $this->payload->get('error');
    }
}
