<?php

namespace WaSidecar\Laravel\Failover;

/** Neither provider can take the message now; nothing was sent. `reasons`: provider => why. */
class NoProviderAvailable extends FailoverException
{
    public function __construct(string $message, public readonly array $reasons = [])
    {
        parent::__construct($message, '', 'NO_PROVIDER');
    }
}
