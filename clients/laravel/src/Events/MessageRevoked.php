<?php

namespace WaSidecar\Laravel\Events;

/** `message.revoked`: a message was deleted for everyone (data: id, wa_id, chat, by, revoke_type, timestamp). */
class MessageRevoked extends SidecarEvent
{
}
