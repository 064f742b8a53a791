<?php

namespace WaSidecar\Laravel\Failover;

use Closure;
use WaSidecar\Laravel\Client;
use WaSidecar\Laravel\Exceptions\ConflictException;
use WaSidecar\Laravel\Exceptions\ConnectionException;
use WaSidecar\Laravel\Exceptions\NotFoundException;
use WaSidecar\Laravel\Exceptions\RateLimitedException;
use WaSidecar\Laravel\Exceptions\ServerException;
use WaSidecar\Laravel\Exceptions\SidecarException;

/**
 * The sidecar's web session as a provider. The host id is the Idempotency-Key (a repeat sends
 * nothing) and the `client_ref` (so the sidecar's message.status callbacks carry it back).
 */
class WebProvider implements Provider
{
    private ?Client $resolved = null;

    /**
     * @param  Client|Closure(): Client  $client  the sidecar client (a closure: made on first use)
     * @param  Closure(string): string  $session  the workspace's session id
     */
    public function __construct(private Client|Closure $client, private Closure $session)
    {
    }

    private function client(): Client
    {
        return $this->resolved ??= $this->client instanceof Client ? $this->client : ($this->client)();
    }

    public function name(): string
    {
        return 'web';
    }

    public function session(string $workspace): string
    {
        return ($this->session)($workspace);
    }

    public function send(string $workspace, array $message, string $hostId): SendResult
    {
        $message['client_ref'] = $hostId;
        try {
            $answer = $this->client()->sendMessage($workspace, $this->session($workspace), $message, $hostId);
        } catch (ConflictException $e) {
            if ($e->errorCode === 'SESSION_NOT_READY') {
                throw new ProviderUnavailable($e->getMessage(), 'web', $e->errorCode, $e);
            }
            throw new MessageRejected($e->getMessage(), 'web', $e->errorCode, $e);
        } catch (ConnectionException|ServerException|RateLimitedException|NotFoundException $e) {
            // Unreachable or timed out (after the client's own retries with the same key), the
            // sidecar failing, a sending cap, or no such session: the web side cannot take it now.
            throw new ProviderUnavailable($e->getMessage(), 'web', $e->errorCode, $e);
        } catch (SidecarException $e) {
            throw new MessageRejected($e->getMessage(), 'web', $e->errorCode, $e);
        }

        return new SendResult($hostId, 'web', (string) ($answer['id'] ?? ''), $answer);
    }

    /** The session's state as the sidecar tells it now (a cheap GET), or null when unreachable. */
    public function state(string $workspace): ?string
    {
        try {
            $s = $this->client()->getSession($workspace, $this->session($workspace));
        } catch (SidecarException) {
            return null;
        }

        return is_string($s['state'] ?? null) ? $s['state'] : null;
    }
}
