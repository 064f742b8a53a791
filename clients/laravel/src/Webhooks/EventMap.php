<?php

namespace WaSidecar\Laravel\Webhooks;

use WaSidecar\Laravel\Events;

/**
 * Which Laravel event each callback type becomes; config wa-sidecar.webhooks.events adds or
 * replaces entries. A type not listed becomes UnknownWebhookReceived.
 */
class EventMap
{
    public const DEFAULTS = [
        'session.status' => Events\SessionStatusChanged::class,
        'session.qr' => Events\SessionQrUpdated::class,
        'session.pairing_code' => Events\SessionPairingCodeIssued::class,
        'session.restricted' => Events\SessionRestricted::class,
        'callback.test' => Events\CallbackTestReceived::class,
        'message.received' => Events\MessageReceived::class,
        'message.sent' => Events\MessageSent::class,
        'message.status' => Events\MessageStatusChanged::class,
        'message.edited' => Events\MessageEdited::class,
        'message.revoked' => Events\MessageRevoked::class,
        'message.reaction' => Events\MessageReactionReceived::class,
        'poll.vote' => Events\PollVoteReceived::class,
        'presence.update' => Events\PresenceUpdated::class,
        'group.participants' => Events\GroupParticipantsChanged::class,
        'call.incoming' => Events\IncomingCall::class,
        'contact.identity' => Events\ContactIdentityLearned::class,
    ];

    /** @param array<string, class-string> $overrides */
    public function __construct(private array $overrides = [])
    {
    }

    /** @return class-string */
    public function classFor(string $type): string
    {
        return $this->overrides[$type] ?? self::DEFAULTS[$type] ?? Events\UnknownWebhookReceived::class;
    }

    public function make(WebhookPayload $payload): object
    {
        $class = $this->classFor($payload->type);

        return new $class($payload);
    }
}
