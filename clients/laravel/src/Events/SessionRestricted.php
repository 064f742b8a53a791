<?php

namespace WaSidecar\Laravel\Events;

/** `session.restricted`: WhatsApp restricted the account (data: reason, e.g. temporarily_banned; until (s) or null; timestamp). */
class SessionRestricted extends SidecarEvent
{
}
