<?php

namespace WaSidecar\Laravel\Failover;

use Closure;
use Illuminate\Contracts\Cache\LockProvider;
use Illuminate\Contracts\Cache\LockTimeoutException;
use Illuminate\Contracts\Cache\Repository;
use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Support\Str;
use WaSidecar\Laravel\Events\CloudProviderStopped;
use WaSidecar\Laravel\Events\ProviderSwitched;

/**
 * Chooses, per workspace and per message, between the sidecar's web session and the Cloud API,
 * and sends. The rules (README.md, "Failing over to the Cloud API"):
 *
 * - a manual override (override()) wins and never fails over;
 * - web while its session is `connected` (known from session.status callbacks, confirmed by a
 *   cheap GET when older than `status_stale_after`), its breaker closed, and, after a failover,
 *   once it has been connected for `return_after` seconds;
 * - otherwise, or when web answers 409 SESSION_NOT_READY, times out or is unreachable: Cloud,
 *   unless Cloud is stopped (a 190) or backing off (130429 …);
 * - the breaker opens after `breaker.failures` web failures within `breaker.window` seconds and
 *   keeps web out for `breaker.open_for` seconds;
 * - outside the 24-hour window Cloud needs a template: the intent's mapped template, else
 *   TemplateRequired and nothing is sent;
 * - one host id per logical message: a repeat with an id already sent returns the first result
 *   and sends nothing, whichever provider took it.
 *
 * State lives in the cache store (config failover.cache_store): share it between workers. With a
 * store that has locks, one host id is sent by one worker at a time and state updates do not
 * overwrite each other.
 */
class ProviderSelector
{
    /** Status order for the one monotonic stream; `failed` only before `delivered`. */
    private const RANK = ['queued' => 0, 'unconfirmed' => 0, 'sent' => 1, 'delivered' => 2, 'read' => 3, 'played' => 4];

    private Closure $clock;

    public function __construct(
        private WebProvider $web,
        private CloudProvider $cloud,
        private Repository $cache,
        private Dispatcher $events,
        private array $config,
        ?Closure $clock = null,
    ) {
        $this->clock = $clock ?? fn (): float => microtime(true);
    }

    // ---- sending ----

    /**
     * Send $message (Meta's shape) by the provider the rules choose, failing over once.
     * $intent names the template to use outside the 24-hour window (config templates);
     * $params are its body parameters.
     *
     * @throws TemplateRequired|MessageRejected|NoProviderAvailable
     */
    public function send(string $workspace, array $message, ?string $hostId = null, ?string $intent = null, array $params = []): SendResult
    {
        $hostId ??= (string) Str::uuid();
        // Two workers with the same host id: the second waits for the first, then sees its result.
        try {
            return $this->locked('send:'.$hostId, 120, 60, fn () => $this->sendOnce($workspace, $message, $hostId, $intent, $params));
        } catch (LockTimeoutException) {
            throw new NoProviderAvailable("message {$hostId} is being sent by another worker", ['lock' => 'busy']);
        }
    }

    private function sendOnce(string $workspace, array $message, string $hostId, ?string $intent, array $params): SendResult
    {
        $prior = $this->cache->get($this->key('sent', $hostId));
        if (is_array($prior)) {
            return SendResult::fromArray($prior, true);
        }
        $this->cache->put($this->key('msg', $hostId), ['workspace' => $workspace, 'message' => $message, 'intent' => $intent, 'params' => $params], 7 * 86400);
        $order = $this->order($workspace);
        $reasons = [];
        foreach ($order as $name) {
            try {
                $result = $name === 'web'
                    ? $this->web->send($workspace, $message, $hostId)
                    : $this->sendCloud($workspace, $message, $hostId, $intent, $params);
            } catch (ProviderUnavailable $e) {
                $reasons[$name] = $e->getMessage();
                $name === 'web' ? $this->webFailed($workspace, $e->getMessage()) : $this->cloudBackOff($workspace);

                continue;
            } catch (CloudTokenInvalid $e) {
                $reasons[$name] = $e->getMessage();
                $this->stopCloud($workspace, (int) $e->errorCode, $e->getMessage());

                continue;
            }
            $this->remember($workspace, $result);

            return $result;
        }
        if ($reasons === []) {
            $reasons = $this->why($workspace);
        }

        throw new NoProviderAvailable("no provider can send for workspace {$workspace} now: ".json_encode($reasons, JSON_UNESCAPED_SLASHES), $reasons);
    }

    /** Which provider the rules pick now ('web' or 'cloud'), or null when neither can send. */
    public function choose(string $workspace): ?string
    {
        return $this->order($workspace)[0] ?? null;
    }

    /** @return list<string> providers to try, in order */
    private function order(string $workspace): array
    {
        $s = $this->state($workspace);
        if ($s['override'] === 'web') {
            return ['web'];
        }
        if ($s['override'] === 'cloud') {
            return $this->cloudUsable($workspace) ? ['cloud'] : [];
        }
        $cloud = $this->cloudUsable($workspace) ? ['cloud'] : [];

        return $this->webUsable($workspace) ? array_merge(['web'], $cloud) : $cloud;
    }

    private function webUsable(string $workspace): bool
    {
        $now = $this->now();
        $s = $this->state($workspace);
        if ($s['breaker_until'] !== null && $s['breaker_until'] > $now) {
            return false;
        }
        if ($s['web_state_at'] === null || $now - $s['web_state_at'] > (float) $this->cfg('status_stale_after', 30)) {
            $this->noteWebState($workspace, $this->web->state($workspace) ?? 'unreachable');
            $s = $this->state($workspace);
        }
        if ($s['web_state'] !== 'connected') {
            return false;
        }
        // After a failover, web must have stayed connected a while before it takes over again.
        return $s['active'] !== 'cloud' || $now - (float) $s['web_connected_since'] >= (float) $this->cfg('return_after', 60);
    }

    private function cloudUsable(string $workspace): bool
    {
        $s = $this->state($workspace);

        return $this->cloud->configured($workspace) && $s['cloud_stopped'] === null
            && ($s['cloud_backoff_until'] === null || $s['cloud_backoff_until'] <= $this->now());
    }

    private function why(string $workspace): array
    {
        $s = $this->state($workspace);
        $out = ['web' => $s['breaker_until'] !== null && $s['breaker_until'] > $this->now() ? 'breaker open' : 'session '.($s['web_state'] ?? 'unknown')];
        $out['cloud'] = match (true) {
            ! $this->cloud->configured($workspace) => 'not configured',
            $s['cloud_stopped'] !== null => 'stopped: '.$s['cloud_stopped']['message'],
            default => 'backing off',
        };
        if ($s['override'] !== null) {
            $out['override'] = $s['override'];
        }

        return $out;
    }

    private function sendCloud(string $workspace, array $message, string $hostId, ?string $intent, array $params): SendResult
    {
        if (($message['type'] ?? 'text') === 'template') {
            return $this->cloud->send($workspace, $message, $hostId);
        }
        $to = ltrim(preg_replace('/@c\.us$/', '', (string) ($message['to'] ?? '')) ?? '', '+');
        $template = $intent === null ? null : ($this->workspaceConfig($workspace)['templates'][$intent] ?? null);
        if ($template !== null && ! $this->windowOpen($workspace, $to)) {
            return $this->cloud->send($workspace, $this->templateMessage($message, $template, $params), $hostId);
        }
        try {
            return $this->cloud->send($workspace, $message, $hostId);
        } catch (WindowClosed $e) {
            $this->cache->forget($this->key('window', $workspace, $to));
            if ($template === null) {
                throw new TemplateRequired("{$to} has not written to the Cloud number in the last 24 hours and no template is mapped for intent ".($intent ?? '(none)').'; nothing was sent', $intent, $to);
            }

            return $this->cloud->send($workspace, $this->templateMessage($message, $template, $params), $hostId);
        }
    }

    private function templateMessage(array $message, array $template, array $params): array
    {
        $parameters = array_map(fn ($p) => ['type' => 'text', 'text' => (string) $p], array_values($params));
        $tpl = ['name' => $template['name'], 'language' => ['code' => $template['language'] ?? 'en_US']];
        if ($parameters !== []) {
            $tpl['components'] = [['type' => 'body', 'parameters' => $parameters]];
        }

        return ['to' => $message['to'], 'type' => 'template', 'template' => $tpl];
    }

    private function remember(string $workspace, SendResult $result): void
    {
        $this->cache->put($this->key('sent', $result->hostId), $result->toArray(), 7 * 86400);
        $this->cache->put($this->key('pid', $result->provider, $result->providerMessageId), $result->hostId, 7 * 86400);
        $s = $this->state($workspace);
        if ($s['active'] !== $result->provider) {
            $reason = $result->provider === 'cloud' ? 'web unavailable: '.($s['web_reason'] ?? $s['web_state'] ?? 'unknown') : 'web connected again';
            $this->save($workspace, ['active' => $result->provider]);
            if (! ($s['active'] === null && $result->provider === 'web')) {
                $this->events->dispatch(new ProviderSwitched($workspace, $s['active'] ?? 'web', $result->provider, $reason));
            }
        }
    }

    // ---- what the selector learns ----

    /** A session.status callback (or a GET) told the web session's state. */
    public function noteWebState(string $workspace, string $state): void
    {
        $s = $this->state($workspace);
        $since = $state === 'connected' ? ($s['web_state'] === 'connected' ? $s['web_connected_since'] : $this->now()) : null;
        $this->save($workspace, ['web_state' => $state, 'web_state_at' => $this->now(), 'web_connected_since' => $since]);
    }

    private function webFailed(string $workspace, string $reason): void
    {
        $now = $this->now();
        $s = $this->state($workspace);
        $window = (float) $this->cfg('breaker.window', 60);
        $failures = array_values(array_filter($s['failures'], fn ($t) => $now - $t < $window));
        $failures[] = $now;
        $patch = ['failures' => $failures, 'web_state' => 'unavailable', 'web_state_at' => $now, 'web_connected_since' => null, 'web_reason' => $reason];
        if (count($failures) >= (int) $this->cfg('breaker.failures', 3)) {
            $patch['breaker_until'] = $now + (float) $this->cfg('breaker.open_for', 60);
            $patch['failures'] = [];
        }
        $this->save($workspace, $patch);
    }

    private function cloudBackOff(string $workspace): void
    {
        $this->save($workspace, ['cloud_backoff_until' => $this->now() + (float) $this->cfg('cloud_backoff', 30)]);
    }

    private function stopCloud(string $workspace, int $code, string $message): void
    {
        if ($this->state($workspace)['cloud_stopped'] !== null) {
            return;
        }
        $this->save($workspace, ['cloud_stopped' => ['code' => $code, 'message' => $message, 'at' => $this->now()]]);
        $this->events->dispatch(new CloudProviderStopped($workspace, $code, $message));
    }

    /** A phone wrote to the workspace's Cloud number: the 24-hour window is open. */
    public function noteCloudInbound(string $workspace, string $phone): void
    {
        $this->cache->put($this->key('window', $workspace, $phone), $this->now(), 86400);
    }

    public function windowOpen(string $workspace, string $phone): bool
    {
        $at = $this->cache->get($this->key('window', $workspace, $phone));

        return is_numeric($at) && $this->now() - (float) $at < 86400;
    }

    /**
     * The one status stream: true when $status moves the host's message $hostId forward (then
     * announce it), false for a late, repeated or backward one.
     */
    public function advance(string $hostId, string $status): bool
    {
        $key = $this->key('status', $hostId);
        $current = $this->cache->get($key);
        if ($current === 'failed') {
            return false;
        }
        if ($status === 'failed') {
            $ok = ($current === null ? -1 : (self::RANK[$current] ?? -1)) < self::RANK['delivered'];
        } else {
            $ok = (self::RANK[$status] ?? -1) > ($current === null ? -1 : (self::RANK[$current] ?? -1));
        }
        if ($ok) {
            $this->cache->put($key, $status, 7 * 86400);
        }

        return $ok;
    }

    /** True the first time a (provider) event id is seen within a week: Meta may deliver twice. */
    public function firstSight(string $eventId): bool
    {
        return $this->cache->add($this->key('seen', $eventId), 1, 7 * 86400);
    }

    /** The last status announced for a host message id. */
    public function status(string $hostId): ?string
    {
        return $this->cache->get($this->key('status', $hostId));
    }

    /** The host id a provider's message id belongs to. */
    public function hostIdFor(string $provider, string $providerMessageId): ?string
    {
        return $this->cache->get($this->key('pid', $provider, $providerMessageId));
    }

    /** Where a host message went: {host_id, provider, provider_message_id}, or null. */
    public function sent(string $hostId): ?array
    {
        $v = $this->cache->get($this->key('sent', $hostId));

        return is_array($v) ? $v : null;
    }

    /**
     * A web message failed in a way the web side cannot fix (it expired waiting for a session):
     * send it again by Cloud under the same host id. Null when it is not resent.
     */
    public function webMessageFailed(string $hostId, ?string $errorCode): ?SendResult
    {
        $msg = $this->cache->get($this->key('msg', $hostId));
        $sent = $this->sent($hostId);
        if (! is_array($msg) || $sent === null || $sent['provider'] !== 'web' || ! in_array($errorCode, (array) $this->cfg('resend_on_web_failure', ['expired']), true)) {
            return null;
        }
        $workspace = $msg['workspace'];
        $this->webFailed($workspace, 'message '.$hostId.' failed: '.$errorCode);
        if (! $this->cloudUsable($workspace) || $this->state($workspace)['override'] === 'web') {
            return null;
        }
        try {
            $result = $this->sendCloud($workspace, $msg['message'], $hostId, $msg['intent'], $msg['params']);
        } catch (CloudTokenInvalid $e) {
            $this->stopCloud($workspace, (int) $e->errorCode, $e->getMessage());

            return null;
        } catch (ProviderUnavailable) {
            $this->cloudBackOff($workspace);

            return null;
        }
        $this->remember($workspace, $result);

        return $result;
    }

    // ---- the admin's controls ----

    /** Force 'web' or 'cloud' for a workspace (no failover), or null to let the rules decide. */
    public function override(string $workspace, ?string $provider): void
    {
        if ($provider !== null && ! in_array($provider, ['web', 'cloud'], true)) {
            throw new \InvalidArgumentException('override is web, cloud or null');
        }
        $this->save($workspace, ['override' => $provider]);
    }

    /** Cloud sends resume after a 190 (a new token is configured). */
    public function enableCloud(string $workspace): void
    {
        $this->save($workspace, ['cloud_stopped' => null, 'cloud_backoff_until' => null]);
    }

    /** Close the breaker and forget web failures. */
    public function resetBreaker(string $workspace): void
    {
        $this->save($workspace, ['breaker_until' => null, 'failures' => []]);
    }

    /** What the admin page shows: active provider, web state, breaker, Cloud stop, override. */
    public function state(string $workspace): array
    {
        $s = $this->cache->get($this->key('state', $workspace));

        return (is_array($s) ? $s : []) + [
            'active' => null, 'override' => null, 'web_state' => null, 'web_state_at' => null,
            'web_connected_since' => null, 'web_reason' => null, 'failures' => [], 'breaker_until' => null,
            'cloud_stopped' => null, 'cloud_backoff_until' => null,
        ];
    }

    private function save(string $workspace, array $patch): void
    {
        $write = fn () => $this->cache->forever($this->key('state', $workspace), $patch + $this->state($workspace));
        try {
            // Webhooks (session states) and senders write the same record from several processes.
            $this->locked('state:'.$workspace, 5, 3, $write);
        } catch (LockTimeoutException) {
            $write();
        }
    }

    /** Runs $fn under the cache store's lock $name when the store has locks, else directly. */
    private function locked(string $name, int $seconds, int $wait, Closure $fn): mixed
    {
        $store = method_exists($this->cache, 'getStore') ? $this->cache->getStore() : null;
        if (! $store instanceof LockProvider) {
            return $fn();
        }

        return $store->lock($this->key('lock', $name), $seconds)->block($wait, $fn);
    }

    public function workspaceConfig(string $workspace): array
    {
        return (array) ($this->config['workspaces'][$workspace] ?? []);
    }

    private function cfg(string $key, mixed $default): mixed
    {
        return data_get($this->config, $key, $default);
    }

    private function key(string ...$parts): string
    {
        return 'wa-sidecar:failover:'.implode(':', $parts);
    }

    private function now(): float
    {
        return ($this->clock)();
    }
}
