<?php

namespace WaSidecar\Laravel\Failover;

use RuntimeException;
use Throwable;

/** Base of the failover errors: which provider said it, and its own error code. */
class FailoverException extends RuntimeException
{
    public function __construct(string $message, public readonly string $provider = '', public readonly string|int $errorCode = '', ?Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }
}
