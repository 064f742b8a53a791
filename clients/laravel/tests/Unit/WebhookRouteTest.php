<?php

namespace WaSidecar\Laravel\Tests\Unit;

use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Support\Facades\Event;
use WaSidecar\Laravel\Events;
use WaSidecar\Laravel\Tests\TestCase;
use WaSidecar\Laravel\Webhooks\EventMap;

/** The webhook route of the test app (Route::waSidecarWebhooks), through Laravel's HTTP kernel. */
class WebhookRouteTest extends TestCase
{
    private const URI = '/webhooks/wa-sidecar';

    private static function event(string $type, array $data, string $id = 'msg_01'): string
    {
        return json_encode(['id' => $id, 'type' => $type, 'timestamp' => '2026-01-01T00:00:00.000Z',
            'workspace' => 'acme', 'session' => 'main', 'data' => $data], JSON_UNESCAPED_SLASHES);
    }

    /** Fakes the package's events only (Laravel's own, such as RequestHandled, still run). */
    private static function fakeSidecarEvents(): void
    {
        Event::fake([...array_values(EventMap::DEFAULTS), Events\UnknownWebhookReceived::class]);
    }

    /** POSTs $body as raw bytes with $headers, as the sidecar does. */
    private function deliver(string $body, array $headers)
    {
        $server = ['CONTENT_TYPE' => 'application/json'];
        foreach ($headers as $name => $value) {
            $server['HTTP_'.strtoupper(str_replace('-', '_', $name))] = $value;
        }

        return $this->call('POST', self::URI, [], [], [], $server, $body);
    }

    public function test_every_valid_vector_is_accepted_and_becomes_one_event(): void
    {
        foreach (self::vectors()['webhooks'] as $v) {
            if (! $v['valid']) {
                continue;
            }
            self::fakeSidecarEvents();
            $this->travelTo(\Carbon\Carbon::createFromTimestamp($v['now']));
            config()->set('wa-sidecar.webhooks.secrets', $v['secrets']);
            $this->deliver($v['body'], $v['headers'])->assertStatus(200);
            $type = json_decode($v['body'], true)['type'] ?? null;
            $class = app(EventMap::class)->classFor((string) $type);
            Event::assertDispatched($class, fn ($e) => $e->payload->id === $v['headers']['webhook-id']);
            cache()->store()->flush();
        }
    }

    public function test_invalid_vectors_are_refused_with_401_and_no_event(): void
    {
        foreach (self::vectors()['webhooks'] as $v) {
            if ($v['valid']) {
                continue;
            }
            self::fakeSidecarEvents();
            $this->travelTo(\Carbon\Carbon::createFromTimestamp($v['now']));
            config()->set('wa-sidecar.webhooks.secrets', $v['secrets']);
            $this->deliver($v['body'], $v['headers'])->assertStatus(401)->assertJsonPath('error.code', 'invalid_'.$v['reason']);
            Event::assertNothingDispatched();
        }
    }

    public function test_each_callback_type_becomes_its_event_and_unknown_types_the_generic_one(): void
    {
        self::fakeSidecarEvents();
        $types = array_keys(EventMap::DEFAULTS);
        $types[] = 'something.new';
        foreach ($types as $i => $type) {
            $body = self::event($type, ['n' => $i], "msg_type_{$i}");
            $this->deliver($body, self::webhookHeaders("msg_type_{$i}", $body))->assertOk();
        }
        foreach (EventMap::DEFAULTS as $type => $class) {
            Event::assertDispatched($class, fn ($e) => $e->payload->type === $type && $e->workspace() === 'acme' && $e->session() === 'main');
        }
        Event::assertDispatched(Events\UnknownWebhookReceived::class, fn ($e) => $e->payload->type === 'something.new' && $e->data() === ['n' => count($types) - 1]);
        $this->assertCount(count(EventMap::DEFAULTS), array_unique(EventMap::DEFAULTS), 'one class per type');
    }

    public function test_one_listener_on_the_interface_gets_every_type(): void
    {
        $seen = [];
        Event::listen(Events\WaSidecarEvent::class, function (Events\WaSidecarEvent $e) use (&$seen) {
            $seen[] = $e->payload->type;
        });
        config()->set('wa-sidecar.broadcast.enabled', false);
        foreach (['session.status', 'message.received', 'brand.new'] as $i => $type) {
            $body = self::event($type, [], "msg_iface_{$i}");
            $this->deliver($body, self::webhookHeaders("msg_iface_{$i}", $body))->assertOk();
        }
        $this->assertSame(['session.status', 'message.received', 'brand.new'], $seen);
    }

    public function test_a_replayed_webhook_id_is_answered_once_and_dispatched_once(): void
    {
        self::fakeSidecarEvents();
        $body = self::event('session.status', ['state' => 'connected'], 'msg_replay');
        $this->deliver($body, self::webhookHeaders('msg_replay', $body))->assertOk()->assertJsonPath('status', 'ok');
        // The same event again, freshly signed (as a retry or an attacker would send it).
        $this->deliver($body, self::webhookHeaders('msg_replay', $body, [self::SECRET_B], time() + 5))
            ->assertOk()->assertJsonPath('status', 'duplicate')->assertHeader('X-Wa-Sidecar-Duplicate', '1');
        Event::assertDispatchedTimes(Events\SessionStatusChanged::class, 1);
    }

    public function test_a_failing_listener_lets_the_retry_through(): void
    {
        $calls = 0;
        Event::listen(Events\SessionStatusChanged::class, function () use (&$calls) {
            if (++$calls === 1) {
                throw new \RuntimeException('database down');
            }
        });
        config()->set('wa-sidecar.broadcast.enabled', false);
        $body = self::event('session.status', ['state' => 'connected'], 'msg_fail');
        $this->deliver($body, self::webhookHeaders('msg_fail', $body))->assertStatus(500);
        $this->deliver($body, self::webhookHeaders('msg_fail', $body))->assertOk()->assertJsonPath('status', 'ok');
        $this->assertSame(2, $calls);
    }

    public function test_bad_input_is_refused_with_4xx_and_no_event(): void
    {
        self::fakeSidecarEvents();
        config()->set('wa-sidecar.webhooks.max_bytes', 1024);
        $big = self::event('session.status', ['pad' => str_repeat('x', 2000)], 'msg_big');
        $this->deliver($big, self::webhookHeaders('msg_big', $big))->assertStatus(413);

        $notJson = '{"type": "session.status", oops';
        $this->deliver($notJson, self::webhookHeaders('msg_bad', $notJson))->assertStatus(400)->assertJsonPath('error.code', 'invalid_json');
        $list = '[1,2]';
        $this->deliver($list, self::webhookHeaders('msg_list', $list))->assertStatus(400);

        $body = self::event('session.status', ['state' => 'connected'], 'msg_hdr');
        foreach (['webhook-id', 'webhook-timestamp', 'webhook-signature'] as $missing) {
            $headers = self::webhookHeaders('msg_hdr', $body);
            unset($headers[$missing]);
            $this->deliver($body, $headers)->assertStatus(400)->assertJsonPath('error.code', 'missing_header');
        }
        $stale = self::webhookHeaders('msg_stale', $body, [self::SECRET_A], time() - 301);
        $this->deliver($body, $stale)->assertStatus(401)->assertJsonPath('error.code', 'invalid_timestamp');
        $this->call('GET', self::URI)->assertStatus(405);
        Event::assertNothingDispatched();
    }

    public function test_qr_and_status_events_broadcast_on_the_workspace_private_channel(): void
    {
        self::fakeSidecarEvents();
        $qr = self::event('session.qr', ['raw' => '2@abc', 'data_url' => 'data:image/png;base64,'.str_repeat('A', 20000), 'attempt' => 1, 'max_attempts' => 6, 'expires_at' => 'x'], 'msg_qr');
        $this->deliver($qr, self::webhookHeaders('msg_qr', $qr))->assertOk();
        Event::assertDispatched(Events\SessionQrUpdated::class, function (Events\SessionQrUpdated $e) {
            $with = $e->broadcastWith();
            $this->assertInstanceOf(PrivateChannel::class, $e->broadcastOn());
            $this->assertSame('private-workspace.acme', $e->broadcastOn()->name);
            $this->assertSame('session.qr', $e->broadcastAs());
            $this->assertSame('2@abc', $with['raw']);
            $this->assertArrayNotHasKey('data_url', $with, 'an image would exceed Pusher\'s 10 KB');
            $this->assertLessThan(10240, strlen(json_encode($with)));

            return $e->broadcastWhen();
        });
        config()->set('wa-sidecar.broadcast.channel', 'tenants.{workspace}.whatsapp');
        $status = self::event('session.status', ['state' => 'connected', 'previous' => 'authenticating', 'phone' => '15551234567'], 'msg_st');
        $this->deliver($status, self::webhookHeaders('msg_st', $status))->assertOk();
        Event::assertDispatched(Events\SessionStatusChanged::class, fn ($e) => $e->broadcastOn()->name === 'private-tenants.acme.whatsapp'
            && $e->broadcastAs() === 'session.status' && $e->broadcastWith()['state'] === 'connected');
        config()->set('wa-sidecar.broadcast.enabled', false);
        Event::assertDispatched(Events\SessionStatusChanged::class, fn ($e) => $e->broadcastWhen() === false);
    }

    /** A new request is a new user: the test app's guard would otherwise keep the last one. */
    private function forgetUsers(): static
    {
        $this->app['auth']->forgetGuards();

        return $this;
    }

    public function test_channel_authorization_follows_the_apps_rule(): void
    {
        $auth = fn (string $token, string $channel) => $this->forgetUsers()->call('POST', '/broadcasting/auth', ['socket_id' => '1234.1234', 'channel_name' => $channel], [], [],
            ['HTTP_AUTHORIZATION' => 'Bearer '.$token, 'HTTP_ACCEPT' => 'application/json']);
        $ok = $auth('alice-token', 'private-workspace.acme');
        $ok->assertOk();
        $this->assertSame('app-key:'.hash_hmac('sha256', '1234.1234:private-workspace.acme', 'app-secret'), $ok->json('auth'));
        $auth('bob-token', 'private-workspace.acme')->assertStatus(403);
        $auth('nobody', 'private-workspace.acme')->assertStatus(401);
    }
}
