<?php

namespace WaSidecar\Laravel\Events;

/** `message.reaction`: a reaction to a message was added or removed. */
class MessageReactionReceived extends SidecarEvent
{
}
