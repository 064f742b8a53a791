<?php

namespace WaSidecar\Laravel\Failover;

/** The provider cannot take the message now (session not ready, timeout, unreachable, rate limited); another provider may. */
class ProviderUnavailable extends FailoverException
{
}
