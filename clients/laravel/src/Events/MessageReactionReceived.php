<?php

namespace WaSidecar\Laravel\Events;

/** `message.reaction`: a reaction was added or removed (data: id, message_id, message_wa_id, chat, from, emoji, removed, timestamp). */
class MessageReactionReceived extends SidecarEvent
{
}
