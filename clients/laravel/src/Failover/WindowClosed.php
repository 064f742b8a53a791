<?php

namespace WaSidecar\Laravel\Failover;

/** The Cloud API refused a free-form message outside the 24-hour customer-service window (131047). */
class WindowClosed extends FailoverException
{
}
