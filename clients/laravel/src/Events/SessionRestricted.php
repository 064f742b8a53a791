<?php

namespace WaSidecar\Laravel\Events;

/** `session.restricted`: WhatsApp restricted the account (a ban or rate-limit signal). */
class SessionRestricted extends SidecarEvent
{
}
