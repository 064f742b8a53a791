<?php

namespace WaSidecar\Laravel\Events;

/** A verified callback of a type this package does not know (a newer sidecar): see payload->type. */
class UnknownWebhookReceived extends SidecarEvent
{
}
