<?php

namespace WaSidecar\Laravel\Events;

/** `call.incoming`: someone is calling the account. */
class IncomingCall extends SidecarEvent
{
}
