<?php

namespace WaSidecar\Laravel\Failover;

/** The Cloud API refused the access token (190) or stopped the account (131031, 368, 131048): Cloud sends stop until ProviderSelector::enableCloud(). */
class CloudTokenInvalid extends FailoverException
{
}
