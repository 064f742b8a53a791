<?php

namespace WaSidecar\Laravel\Events;

/** `message.revoked`: a message was deleted for everyone. */
class MessageRevoked extends SidecarEvent
{
}
