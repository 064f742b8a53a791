<?php

namespace WaSidecar\Laravel;

use Closure;
use Illuminate\Http\Client\ConnectionException as HttpConnectionException;
use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\PendingRequest;
use Illuminate\Http\Client\Request;
use Illuminate\Http\Client\Response;
use Illuminate\Support\Str;
use WaSidecar\Laravel\Exceptions\ConnectionException;
use WaSidecar\Laravel\Exceptions\RateLimitedException;
use WaSidecar\Laravel\Exceptions\SidecarException;
use WaSidecar\Laravel\Signing\RequestSigner;

/**
 * The signed REST client for wa-sidecar: one method per route (docs/sessions.md, DESIGN.md
 * "Messages"), answers as decoded JSON arrays, failures as SidecarException subclasses carrying the
 * sidecar's error code. Requests go through Laravel's HTTP client (so Http::fake sees them) and are
 * signed in beforeSending, over the exact bytes sent; each retry is signed afresh and keeps the
 * same Idempotency-Key. New routes: call request() (the extension point) from a new method.
 */
class Client
{
    /**
     * @param  Closure(): Factory  $http  resolves Laravel's HTTP client factory at call time
     * @param  array{url: string, timeout?: int, connect_timeout?: int, retry?: array}  $options
     */
    public function __construct(
        private Closure $http,
        private RequestSigner $signer,
        private array $options,
    ) {
    }

    // ---- sessions (docs/sessions.md) ----

    /**
     * Create a session. $options: start (bool, default true), callback_url, metadata.
     *
     * @return array the session (201)
     */
    public function createSession(string $workspace, string $session, array $options = []): array
    {
        return $this->request('POST', $this->sessionsPath($workspace), ['id' => $session] + $options);
    }

    /** @return array<int, array> the workspace's sessions */
    public function listSessions(string $workspace): array
    {
        return $this->request('GET', $this->sessionsPath($workspace))['sessions'] ?? [];
    }

    public function getSession(string $workspace, string $session): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session));
    }

    public function startSession(string $workspace, string $session): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/start');
    }

    public function stopSession(string $workspace, string $session): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/stop');
    }

    public function restartSession(string $workspace, string $session): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/restart');
    }

    public function logoutSession(string $workspace, string $session): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/logout');
    }

    /** Stops, unlinks and removes the session; an unknown session is not an error. */
    public function deleteSession(string $workspace, string $session): void
    {
        $this->request('DELETE', $this->sessionPath($workspace, $session));
    }

    /** The QR text currently on screen (render it as-is; it is opaque and holds key material). */
    public function qrRaw(string $workspace, string $session): string
    {
        return $this->send('GET', $this->sessionPath($workspace, $session).'/qr', null, ['format' => 'raw'], null, 'text/plain')->body();
    }

    /** The QR as PNG bytes. */
    public function qrPng(string $workspace, string $session): string
    {
        return $this->send('GET', $this->sessionPath($workspace, $session).'/qr', null, ['format' => 'png'], null, 'image/png')->body();
    }

    /** The QR with its details (raw, data_url, attempt, expires_at, …), as JSON. */
    public function qr(string $workspace, string $session): array
    {
        return $this->send('GET', $this->sessionPath($workspace, $session).'/qr', null, [], null, 'application/json')->json() ?? [];
    }

    /** @return array{code: string, phone: string} a code to type on the phone instead of scanning */
    public function requestPairingCode(string $workspace, string $session, string $phone): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/pairing-code', ['phone' => $phone]);
    }

    // ---- messages (DESIGN.md "Messages"; the contract the sidecar's message routes follow) ----

    /**
     * Send a Cloud-API-shaped message object ({to, type, text: {body}} …). Give your own
     * $idempotencyKey (e.g. your message id) so a queued job that runs twice sends once.
     *
     * @return array{id: string, status: string, to: string, client_ref: ?string, created_at: string} (202)
     */
    public function sendMessage(string $workspace, string $session, array $message, ?string $idempotencyKey = null): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/messages', $message, [], $idempotencyKey);
    }

    /** One message by its id or its WhatsApp id. */
    public function getMessage(string $workspace, string $session, string $messageId): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session).'/messages/'.rawurlencode($messageId));
    }

    // ---- workspaces ----

    public function getWorkspace(string $workspace): array
    {
        return $this->request('GET', '/v1/workspaces/'.rawurlencode($workspace));
    }

    /** Checks the signer end to end: the sidecar echoes the key id and the message. */
    public function ping(string $workspace, string $message = 'ping'): array
    {
        return $this->request('POST', '/v1/workspaces/'.rawurlencode($workspace).'/ping', ['message' => $message]);
    }

    // ---- the extension point ----

    /**
     * A signed call to any /v1 route; the JSON answer as an array ([] for 204).
     *
     * @throws SidecarException
     */
    public function request(string $method, string $path, ?array $json = null, array $query = [], ?string $idempotencyKey = null): array
    {
        $response = $this->send($method, $path, $json, $query, $idempotencyKey);

        return $response->status() === 204 ? [] : ($response->json() ?? []);
    }

    /**
     * Sends with retries and returns the successful response.
     *
     * @throws SidecarException
     */
    public function send(string $method, string $path, ?array $json = null, array $query = [], ?string $idempotencyKey = null, string $accept = 'application/json'): Response
    {
        $method = strtoupper($method);
        $body = $json === null ? '' : json_encode($json === [] ? new \stdClass() : $json, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
        $url = rtrim($this->options['url'], '/').$path;
        if ($query !== []) {
            $url .= '?'.http_build_query($query, '', '&', PHP_QUERY_RFC3986);
        }
        $headers = ['Accept' => $accept];
        if ($method !== 'GET' && $method !== 'HEAD') {
            // One key for every attempt of this call: a retry after a lost answer is a repeat.
            $headers['Idempotency-Key'] = $idempotencyKey ?? (string) Str::uuid();
        }
        $retry = ($this->options['retry'] ?? []) + ['times' => 2, 'sleep_ms' => 200, 'max_sleep_ms' => 5000];
        for ($attempt = 0; ; $attempt++) {
            try {
                $response = $this->pending($headers)->withBody($body, 'application/json')->send($method, $url);
            } catch (HttpConnectionException $e) {
                if ($attempt < $retry['times']) {
                    $this->pause($attempt, null, $retry);

                    continue;
                }
                throw new ConnectionException('wa-sidecar unreachable: '.$e->getMessage(), 'CONNECTION_FAILED', 0, null, null, $e);
            }
            if ($response->successful()) {
                return $response;
            }
            if ($attempt < $retry['times'] && in_array($response->status(), [408, 429, 502, 503, 504], true)) {
                $this->pause($attempt, $response->header('Retry-After'), $retry);

                continue;
            }
            throw $this->error($response);
        }
    }

    private function pending(array $headers): PendingRequest
    {
        $signer = $this->signer;

        return ($this->http)()
            ->withHeaders($headers)
            ->timeout((int) ($this->options['timeout'] ?? 30))
            ->withOptions(['connect_timeout' => (int) ($this->options['connect_timeout'] ?? 5)])
            // Runs on every attempt, on the PSR request Guzzle is about to send.
            ->beforeSending(fn (Request $request) => $signer->signPsr($request->toPsrRequest()));
    }

    private function error(Response $response): SidecarException
    {
        $json = $response->json();
        $e = SidecarException::fromResponse($response->status(), is_array($json) ? $json : null, $response->header('X-Request-Id') ?: null, $response->body());
        if ($e instanceof RateLimitedException && is_numeric($response->header('Retry-After'))) {
            $e->retryAfter = (int) $response->header('Retry-After');
        }

        return $e;
    }

    private function pause(int $attempt, ?string $retryAfter, array $retry): void
    {
        $ms = is_numeric($retryAfter) ? (int) $retryAfter * 1000 : (int) $retry['sleep_ms'] * (2 ** $attempt);
        usleep(1000 * min($ms, (int) $retry['max_sleep_ms']));
    }

    private function sessionsPath(string $workspace): string
    {
        return '/v1/workspaces/'.rawurlencode($workspace).'/sessions';
    }

    private function sessionPath(string $workspace, string $session): string
    {
        return $this->sessionsPath($workspace).'/'.rawurlencode($session);
    }
}
