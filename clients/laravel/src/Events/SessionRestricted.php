<?php

namespace WaSidecar\Laravel\Events;

/** `session.restricted`: WhatsApp restricted the account (data: reason, `temporarily_banned` or `tos_block`; until (s) or null; timestamp). */
class SessionRestricted extends SidecarEvent
{
}
