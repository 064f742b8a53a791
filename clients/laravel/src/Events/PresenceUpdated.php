<?php

namespace WaSidecar\Laravel\Events;

/** `presence.update`: a contact's presence (online, typing, …) changed. */
class PresenceUpdated extends SidecarEvent
{
}
