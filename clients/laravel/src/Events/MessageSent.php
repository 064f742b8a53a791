<?php

namespace WaSidecar\Laravel\Events;

/**
 * `message.sent`: a message the account sent from its phone or another linked device (data as
 * message.received, with origin "phone"). Messages sent through the API report
 * MessageStatusChanged instead.
 */
class MessageSent extends SidecarEvent
{
    use DescribesMessage;
}
