<?php

namespace WaSidecar\Laravel\Failover;

/** The message itself was refused (bad parameter, recipient not on WhatsApp, a type the provider lacks); retrying elsewhere would not help. */
class MessageRejected extends FailoverException
{
}
