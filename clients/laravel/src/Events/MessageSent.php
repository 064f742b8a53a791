<?php

namespace WaSidecar\Laravel\Events;

/** `message.sent`: a message sent by the account's other devices (data as message.received, origin "phone"). */
class MessageSent extends SidecarEvent
{
}
