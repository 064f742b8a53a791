<?php

namespace WaSidecar\Laravel\Events;

/** `message.edited`: a message was edited. */
class MessageEdited extends SidecarEvent
{
}
