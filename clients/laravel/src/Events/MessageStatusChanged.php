<?php

namespace WaSidecar\Laravel\Events;

/** `message.status`: a sent message moved on: sent, delivered, read, played, failed {error}, unconfirmed (data: id, wa_id, status, …). */
class MessageStatusChanged extends SidecarEvent
{
}
