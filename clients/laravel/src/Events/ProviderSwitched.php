<?php

namespace WaSidecar\Laravel\Events;

use Illuminate\Foundation\Events\Dispatchable;

/** A workspace's messages now go by another provider ('web' or 'cloud'), and why. */
class ProviderSwitched
{
    use Dispatchable;

    public function __construct(
        public readonly string $workspace,
        public readonly string $from,
        public readonly string $to,
        public readonly string $reason,
    ) {
    }
}
