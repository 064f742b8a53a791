<?php

namespace WaSidecar\Laravel\Events;

/**
 * `message.received`: a message arrived. Data: id, wa_id, chat {id, type user|group}, from {id,
 * lid, pn, push_name}, type, text (or caption), media? {id, mime_type, size, sha256, filename,
 * status}, location?, contacts?, poll?, context? {message_id}, mentions?, timestamp (s), source
 * (`live`, or `catchup` for one that arrived while the session was away).
 */
class MessageReceived extends SidecarEvent
{
    use DescribesMessage;

    /** True for a message caught up after a reconnect rather than heard live. */
    public function isCatchUp(): bool
    {
        return $this->payload->get('source') === 'catchup';
    }
}
