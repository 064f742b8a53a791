<?php

namespace WaSidecar\Laravel\Events;

/** `call.incoming`: someone is calling the account (data: id, from, video, group, timestamp, rejected when [calls] reject is on). */
class IncomingCall extends SidecarEvent
{
}
