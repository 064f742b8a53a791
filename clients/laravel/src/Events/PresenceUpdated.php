<?php

namespace WaSidecar\Laravel\Events;

/** `presence.update`: a contact's presence changed (data: chat, from, state (available, composing, recording, unavailable, …), timestamp). */
class PresenceUpdated extends SidecarEvent
{
}
