<?php

namespace WaSidecar\Laravel\Webhooks;

use RuntimeException;

/** Why a webhook was refused: `reason` is "timestamp" or "signature". */
final class WebhookVerificationException extends RuntimeException
{
    public function __construct(public readonly string $reason, string $message)
    {
        parent::__construct($message);
    }
}
