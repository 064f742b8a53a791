<?php

namespace WaSidecar\Laravel\Events;

/** `message.received`: a message arrived (data: id, wa_id, chat, from, type, text or caption, media?, context?, timestamp, source live|catchup). */
class MessageReceived extends SidecarEvent
{
}
