<?php

namespace WaSidecar\Laravel\Events;

/** `callback.test`: sent by POST /v1/callbacks/test to check this endpoint (data: whatever the test asked for). */
class CallbackTestReceived extends SidecarEvent
{
}
