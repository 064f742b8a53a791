<?php

namespace WaSidecar\Laravel\Failover;

/**
 * The message would go by the Cloud API outside the 24-hour customer-service window and no
 * template is mapped for its intent: nothing was sent. Map the intent (config
 * wa-sidecar.failover.workspaces.{ws}.templates) or wait for the customer to write.
 */
class TemplateRequired extends FailoverException
{
    public function __construct(string $message, public readonly ?string $intent = null, public readonly string $to = '')
    {
        parent::__construct($message, 'cloud', 131047);
    }
}
