<?php

namespace WaSidecar\Laravel\Events;

/**
 * `message.status`: a message sent through the API moved on (docs/messages.md, Statuses). Data: id,
 * wa_id, status (sent, delivered, read, played, failed, unconfirmed), ack, to, chat_id, type,
 * client_ref, timestamp, and error {code, message} when failed. Monotonic; one event per change.
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
