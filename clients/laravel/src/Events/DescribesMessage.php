<?php

namespace WaSidecar\Laravel\Events;

/**
 * Accessors for the message events that carry a whole message (`message.received`, `message.sent`
 * from the phone): DESIGN.md "Messages", Inbound. The full data stays in $payload->data.
 */
trait DescribesMessage
{
    /** The sidecar's id of the message (the same in every callback and in getMessage()). */
    public function messageId(): ?string
    {
        return $this->payload->get('id');
    }

    /** WhatsApp's serialized id. */
    public function waId(): ?string
    {
        return $this->payload->get('wa_id');
    }

    /** text, image, video, audio, document, sticker, location, contacts, poll, … */
    public function messageType(): ?string
    {
        return $this->payload->get('type');
    }

    /** The text, or a media's caption. */
    public function text(): ?string
    {
        return $this->payload->get('text') ?? $this->payload->get('caption');
    }

    /** @return array{id: ?string, lid: ?string, pn: ?string, push_name: ?string} who sent it */
    public function sender(): array
    {
        return ((array) $this->payload->get('from', [])) + ['id' => null, 'lid' => null, 'pn' => null, 'push_name' => null];
    }

    /** The chat it is in: `…@c.us`, `…@lid` or a group `…@g.us`. */
    public function chatId(): ?string
    {
        return $this->payload->data['chat']['id'] ?? null;
    }

    public function isGroup(): bool
    {
        return ($this->payload->data['chat']['type'] ?? null) === 'group';
    }

    /** The media's details (id for WaSidecar::downloadMedia, mime_type, size, sha256, filename, status), if any. */
    public function media(): ?array
    {
        return $this->payload->get('media');
    }
}
