<?php

namespace WaSidecar\Laravel\Events;

/** `message.edited`: a message was edited (data: id, wa_id, chat, from, text (the new text), edit_id, timestamp). */
class MessageEdited extends SidecarEvent
{
}
