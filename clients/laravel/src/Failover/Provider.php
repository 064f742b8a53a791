<?php

namespace WaSidecar\Laravel\Failover;

/**
 * One way out to WhatsApp for a workspace: the sidecar's web session (WebProvider) or Meta's
 * Cloud API (CloudProvider). Both take the same message object (Meta's shape: to, type, text …).
 */
interface Provider
{
    /** 'web' or 'cloud'. */
    public function name(): string;

    /**
     * Send $message once under the host's own id $hostId (a repeat with the same id sends nothing).
     *
     * @throws ProviderUnavailable the provider cannot take it now; another one may
     * @throws MessageRejected the message itself was refused; another provider would refuse it too
     * @throws WindowClosed (Cloud) outside the 24-hour window: only a template passes
     * @throws CloudTokenInvalid (Cloud) the access token was refused (190)
     */
    public function send(string $workspace, array $message, string $hostId): SendResult;
}
