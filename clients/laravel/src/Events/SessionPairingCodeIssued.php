<?php

namespace WaSidecar\Laravel\Events;

/** `session.pairing_code`: a pairing code to type on the phone (data: code, phone). */
class SessionPairingCodeIssued extends SidecarEvent
{
}
