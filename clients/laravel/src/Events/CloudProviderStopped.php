<?php

namespace WaSidecar\Laravel\Events;

use Illuminate\Foundation\Events\Dispatchable;

/**
 * The Cloud API refused the workspace's token (190) or stopped its account (131031, 368, 131048):
 * no more Cloud sends for it until ProviderSelector::enableCloud(). Page the operator.
 */
class CloudProviderStopped
{
    use Dispatchable;

    public function __construct(
        public readonly string $workspace,
        public readonly int $code,
        public readonly string $message,
    ) {
    }
}
