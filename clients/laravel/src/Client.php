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
 * sidecar's error code (sessions, sending, and what receiving serves: chats, contacts, groups,
 * media). Requests go through Laravel's HTTP client (so Http::fake sees them) and are
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

    // ---- sending (docs/messages.md) ----

    /**
     * Send a Cloud-API-shaped message object ({to, type, text: {body}} …; docs/messages.md lists
     * every type). Give your own $idempotencyKey (e.g. your message id) so a queued job that runs
     * twice sends once: a repeat answers the first 202 and sends nothing, also after a restart of
     * the sidecar; the same key with another message is 422 IDEMPOTENCY_KEY_REUSED. The session
     * must be connected (or on its way: starting, authenticating, disconnected; then it waits),
     * else 409 SESSION_NOT_READY.
     *
     * @return array{id: string, status: string, to: string, client_ref: ?string, created_at: string} (202)
     */
    public function sendMessage(string $workspace, string $session, array $message, ?string $idempotencyKey = null): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/messages', $message, [], $idempotencyKey);
    }

    /**
     * A text message. $options: any other field of the message (client_ref, context, mentions,
     * priority, on_limit), and `preview_url`.
     */
    public function sendText(string $workspace, string $session, string $to, string $body, array $options = [], ?string $idempotencyKey = null): array
    {
        $text = ['body' => $body];
        if (array_key_exists('preview_url', $options)) {
            $text['preview_url'] = (bool) $options['preview_url'];
            unset($options['preview_url']);
        }

        return $this->sendMessage($workspace, $session, ['to' => $to, 'type' => 'text', 'text' => $text] + $options, $idempotencyKey);
    }

    /** One message (sent or received) by its id or its WhatsApp id: status, error, history. */
    public function getMessage(string $workspace, string $session, string $messageId): array
    {
        return $this->request('GET', $this->messagePath($workspace, $session, $messageId));
    }

    /** Edits the text of a text message this account sent. */
    public function editMessage(string $workspace, string $session, string $messageId, string $text): array
    {
        return $this->request('PATCH', $this->messagePath($workspace, $session, $messageId), ['text' => $text]);
    }

    /** Deletes a message for everyone (revoke; only this account's messages) or only for this account. */
    public function deleteMessage(string $workspace, string $session, string $messageId, bool $forEveryone = true): array
    {
        return $this->request('DELETE', $this->messagePath($workspace, $session, $messageId), null, ['for' => $forEveryone ? 'everyone' : 'me']);
    }

    /** Reacts to a message with one emoji; '' removes this account's reaction. */
    public function reactToMessage(string $workspace, string $session, string $messageId, string $emoji): array
    {
        return $this->request('POST', $this->messagePath($workspace, $session, $messageId).'/reaction', ['emoji' => $emoji]);
    }

    /** Forwards a message to a phone number or chat id. */
    public function forwardMessage(string $workspace, string $session, string $messageId, string $to): array
    {
        return $this->request('POST', $this->messagePath($workspace, $session, $messageId).'/forward', ['to' => $to]);
    }

    public function starMessage(string $workspace, string $session, string $messageId, bool $star = true): array
    {
        return $this->request('POST', $this->messagePath($workspace, $session, $messageId).'/star', ['star' => $star]);
    }

    /** Marks a chat (a phone number or chat id) read: read receipts go out only when you call this. */
    public function markChatRead(string $workspace, string $session, string $chat): array
    {
        return $this->request('POST', $this->chatPath($workspace, $session, $chat).'/read');
    }

    /** Shows `typing`, `recording` or `paused` in a chat (for at most $durationMs, default 10 s). */
    public function setChatPresence(string $workspace, string $session, string $chat, string $state, ?int $durationMs = null): array
    {
        return $this->request('POST', $this->chatPath($workspace, $session, $chat).'/presence',
            ['state' => $state] + ($durationMs === null ? [] : ['duration_ms' => $durationMs]));
    }

    /**
     * Which phone numbers are on WhatsApp (at most 100).
     *
     * @param  list<string>  $phones
     * @return list<array{phone: string, exists: bool, chat_id: ?string, lid: ?string}>
     */
    public function lookupContacts(string $workspace, string $session, array $phones): array
    {
        return $this->request('POST', $this->sessionPath($workspace, $session).'/contacts/lookup', ['phones' => array_values($phones)])['results'] ?? [];
    }

    /** Pacing and the daily cap: pacing, daily_cap, accepted_today, remaining_today, queued, awaiting_ack, resets_at. */
    public function sendingLimits(string $workspace, string $session): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session).'/sending-limits');
    }

    // ---- receiving: chats, contacts, groups, media (what the page knows) ----

    /** @return list<array{id: string, name: ?string, type: string, unread_count: int, last_message_at: ?int, archived: bool}> */
    public function listChats(string $workspace, string $session): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session).'/chats')['chats'] ?? [];
    }

    /**
     * A page of a chat's messages, oldest first, shaped like message.received (`source: history`).
     * Pass the answer's `next_before` as $before for the next older page (null at the start).
     *
     * @return array{messages: list<array>, next_before: ?string}
     */
    public function chatMessages(string $workspace, string $session, string $chat, ?int $limit = null, ?string $before = null): array
    {
        $query = array_filter(['limit' => $limit, 'before' => $before], fn ($v) => $v !== null);

        return $this->request('GET', $this->chatPath($workspace, $session, $chat).'/messages', null, $query);
    }

    /** A contact by phone number, `…@c.us` or `…@lid`: id, lid, pn, name, profile_picture_url. */
    public function getContact(string $workspace, string $session, string $contact): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session).'/contacts/'.self::segment($contact));
    }

    /** @return list<array> the account's groups, as chats */
    public function listGroups(string $workspace, string $session): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session).'/groups')['groups'] ?? [];
    }

    /** A group (`…@g.us`): subject, participants, admins. */
    public function getGroup(string $workspace, string $session, string $group): array
    {
        return $this->request('GET', $this->sessionPath($workspace, $session).'/groups/'.self::segment($group));
    }

    /**
     * The bytes of a received message's media (`media.id` of message.received). With $saveTo they
     * are streamed to that file (large documents) and the path is returned instead.
     * 410 MEDIA_EXPIRED past its retention, 409 MEDIA_NOT_STORED when the download failed: then
     * refetchMedia().
     */
    public function downloadMedia(string $workspace, string $session, string $mediaId, ?string $saveTo = null): string
    {
        $response = $this->send('GET', $this->mediaPath($workspace, $session, $mediaId), null, [], null, '*/*', $saveTo === null ? [] : ['stream' => true]);
        if ($saveTo === null) {
            return $response->body();
        }
        $body = $response->toPsrResponse()->getBody();
        if ($body->isSeekable()) {
            $body->rewind();
        }
        $out = @fopen($saveTo, 'wb');
        if ($out === false) {
            throw new \RuntimeException("cannot write {$saveTo}");
        }
        try {
            while (! $body->eof()) {
                if (fwrite($out, $body->read(1 << 16)) === false) {
                    throw new \RuntimeException("cannot write {$saveTo}");
                }
            }
        } finally {
            fclose($out);
            $body->close();
        }

        return $saveTo;
    }

    /** Downloads a received message's media from WhatsApp again (after MEDIA_EXPIRED or MEDIA_NOT_STORED). */
    public function refetchMedia(string $workspace, string $session, string $mediaId): array
    {
        return $this->request('POST', $this->mediaPath($workspace, $session, $mediaId).'/refetch');
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
    public function send(string $method, string $path, ?array $json = null, array $query = [], ?string $idempotencyKey = null, string $accept = 'application/json', array $guzzleOptions = []): Response
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
                $response = $this->pending($headers, $guzzleOptions)->withBody($body, 'application/json')->send($method, $url);
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
            if ($attempt < $retry['times'] && $this->retryable($response, $retry)) {
                $this->pause($attempt, $response->header('Retry-After'), $retry);

                continue;
            }
            throw $this->error($response);
        }
    }

    /**
     * A 408, 429, 502, 503 or 504 is tried again, unless the sidecar says to wait longer than
     * retry.max_sleep_ms (a 429 SENDING_LIMIT_REACHED waits until midnight UTC: that is the
     * caller's decision, with RateLimitedException::$retryAfter).
     */
    private function retryable(Response $response, array $retry): bool
    {
        if (! in_array($response->status(), [408, 429, 502, 503, 504], true)) {
            return false;
        }
        $after = $response->header('Retry-After');

        return ! is_numeric($after) || (int) $after * 1000 <= (int) $retry['max_sleep_ms'];
    }

    private function pending(array $headers, array $guzzleOptions = []): PendingRequest
    {
        $signer = $this->signer;

        return ($this->http)()
            ->withHeaders($headers)
            ->timeout((int) ($this->options['timeout'] ?? 30))
            ->withOptions(['connect_timeout' => (int) ($this->options['connect_timeout'] ?? 5)] + $guzzleOptions)
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

    /** A path segment: percent-encoded, but `+`, `@` and `:` of phones and chat ids kept as they are (valid in a path). */
    private static function segment(string $value): string
    {
        return strtr(rawurlencode($value), ['%2B' => '+', '%40' => '@', '%3A' => ':']);
    }

    private function messagePath(string $workspace, string $session, string $messageId): string
    {
        return $this->sessionPath($workspace, $session).'/messages/'.self::segment($messageId);
    }

    private function chatPath(string $workspace, string $session, string $chat): string
    {
        return $this->sessionPath($workspace, $session).'/chats/'.self::segment($chat);
    }

    private function mediaPath(string $workspace, string $session, string $mediaId): string
    {
        return $this->sessionPath($workspace, $session).'/media/'.rawurlencode($mediaId);
    }
}
