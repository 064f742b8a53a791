<?php

namespace WaSidecar\Laravel\Exceptions;

/** 429: a pacing cap was hit; `retryAfter` (seconds, when the sidecar said) tells when to try again. */
class RateLimitedException extends SidecarException
{
    public ?int $retryAfter = null;
}
