<?php

namespace WaSidecar\Laravel\Tests\Unit;

use GuzzleHttp\Exception\ConnectException;
use GuzzleHttp\Psr7\Request as PsrRequest;
use Illuminate\Http\Client\Request;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\Facades\Http;
use WaSidecar\Laravel\Events\CloudProviderStopped;
use WaSidecar\Laravel\Events\MessageReceived;
use WaSidecar\Laravel\Events\MessageStatusChanged;
use WaSidecar\Laravel\Events\ProviderSwitched;
use WaSidecar\Laravel\Failover\NoProviderAvailable;
use WaSidecar\Laravel\Failover\ProviderSelector;
use WaSidecar\Laravel\Failover\TemplateRequired;
use WaSidecar\Laravel\Tests\TestCase;

/**
 * The selector's rules with Http::fake standing in for the sidecar (127.0.0.1:9) and the Graph
 * API (graph.test), and a clock the test moves.
 */
class ProviderSelectorTest extends TestCase
{
    private float $now = 1_800_000_000.0;

    /** What the fakes answer: web send (status, body) or 'timeout'; session state; Cloud (status, body). */
    private array $web = [202, ['id' => 'msg_1', 'status' => 'queued']];

    private string $webState = 'connected';

    private array $cloud = [200, ['messaging_product' => 'whatsapp', 'contacts' => [], 'messages' => [['id' => 'wamid.C1']]]];

    /** @var list<Request> */
    private array $calls = [];

    protected function setUp(): void
    {
        parent::setUp();
        config()->set('wa-sidecar.failover', array_replace_recursive(config('wa-sidecar.failover'), [
            'enabled' => true, 'graph_url' => 'http://graph.test', 'app_secret' => 'meta-secret', 'verify_token' => 'vt',
            'return_after' => 60, 'status_stale_after' => 30, 'breaker' => ['failures' => 3, 'window' => 60, 'open_for' => 120],
            'workspaces' => ['acme' => ['session' => 'main', 'phone_number_id' => 'PN1', 'token' => 'tok',
                'templates' => ['order_update' => ['name' => 'order_update', 'language' => 'en_US']]]],
        ]));
        config()->set('wa-sidecar.retry.times', 0);
        $this->app->forgetInstance(ProviderSelector::class);
        Http::fake(function (Request $r) {
            $this->calls[] = $r;
            if (str_starts_with($r->url(), 'http://graph.test/')) {
                return Http::response($this->cloud[1], $this->cloud[0]);
            }
            if ($r->method() === 'GET') {
                return Http::response(['id' => 'main', 'state' => $this->webState], 200);
            }
            if ($this->web === ['timeout']) {
                throw new ConnectException('cURL error 28: Operation timed out', new PsrRequest('POST', $r->url()));
            }

            return Http::response($this->web[1], $this->web[0]);
        });
    }

    /** The container's selector with this test's clock. */
    private function selector(array $config = []): ProviderSelector
    {
        $real = $this->app->make(ProviderSelector::class);
        $prop = fn (string $name) => (function () use ($name) {
            return $this->{$name};
        })->call($real);

        return new ProviderSelector($prop('web'), $prop('cloud'), $prop('cache'), $prop('events'), array_replace_recursive($prop('config'), $config), fn () => $this->now);
    }

    /** @return list<string> 'web' / 'cloud' / 'web-get' per request made */
    private function made(): array
    {
        return array_map(fn (Request $r) => str_starts_with($r->url(), 'http://graph.test/') ? 'cloud' : ($r->method() === 'GET' ? 'web-get' : 'web'), $this->calls);
    }

    private function text(string $body = 'hi'): array
    {
        return ['to' => '+15557654321', 'type' => 'text', 'text' => ['body' => $body]];
    }

    private function notReady(): array
    {
        return [409, ['error' => ['code' => 'SESSION_NOT_READY', 'message' => 'the session is conflict']]];
    }

    public function test_a_connected_session_sends_by_web_with_the_host_id_as_idempotency_key(): void
    {
        Event::fake([ProviderSwitched::class]);
        $r = $this->selector()->send('acme', $this->text(), 'host-1');
        $this->assertSame(['web', 'msg_1', 'host-1'], [$r->provider, $r->providerMessageId, $r->hostId]);
        $this->assertSame(['web-get', 'web'], $this->made());
        $send = $this->calls[1];
        $this->assertSame('host-1', json_decode($send->body(), true)['client_ref']);
        $this->assertSame('host-1', $send->header('Idempotency-Key')[0]);
                $this->assertStringEndsWith('/v1/workspaces/acme/sessions/main/messages', $send->url());
        Event::assertNotDispatched(ProviderSwitched::class);
    }

    public function test_session_not_ready_fails_over_to_cloud_once_and_a_repeat_sends_nothing(): void
    {
        Event::fake([ProviderSwitched::class]);
        $this->web = $this->notReady();
        $s = $this->selector();
        $r = $s->send('acme', $this->text('by cloud') + ['context' => ['message_id' => 'out_0123'], 'mentions' => ['15550000001']], 'host-2');
        $this->assertSame(['cloud', 'wamid.C1'], [$r->provider, $r->providerMessageId]);
        $this->assertSame(['web-get', 'web', 'cloud'], $this->made());
        $cloud = $this->calls[2];
        $this->assertSame('http://graph.test/v21.0/PN1/messages', $cloud->url());
        $this->assertSame('Bearer tok', $cloud->header('Authorization')[0]);
        $body = json_decode($cloud->body(), true);
        $this->assertSame(['whatsapp', '15557654321', 'text', 'by cloud', 'host-2'], [$body['messaging_product'], $body['to'], $body['type'], $body['text']['body'], $body['biz_opaque_callback_data']]);
        $this->assertArrayNotHasKey('client_ref', $body);
        $this->assertArrayNotHasKey('context', $body, 'a web message id cannot be quoted by Cloud');
        Event::assertDispatched(ProviderSwitched::class, fn (ProviderSwitched $e) => [$e->workspace, $e->from, $e->to] === ['acme', 'web', 'cloud']);

        // The same logical message again (a job retried after the failover): nothing is sent.
        $again = $s->send('acme', $this->text('by cloud'), 'host-2');
        $this->assertTrue($again->repeat);
        $this->assertSame(['cloud', 'wamid.C1'], [$again->provider, $again->providerMessageId]);
        $this->assertCount(3, $this->calls);

        // The next one goes straight to Cloud: web is known down, no new web attempt.
        $s->send('acme', $this->text('next'), 'host-3');
        $this->assertSame(['web-get', 'web', 'cloud', 'cloud'], $this->made());
    }

    public function test_a_timeout_fails_over_and_a_session_status_callback_keeps_web_out(): void
    {
        $this->web = ['timeout'];
        $s = $this->selector();
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'h-t')->provider);
        // The failover client tries web once more with the same Idempotency-Key, then Cloud.
        $this->assertSame(['web-get', 'web', 'web', 'cloud'], $this->made());
        $this->assertSame($this->calls[1]->header('Idempotency-Key'), $this->calls[2]->header('Idempotency-Key'));

        // A session.status callback (not connected): no web attempt, no GET.
        $this->calls = [];
        $this->web = [202, ['id' => 'msg_9']];
        $s->noteWebState('acme', 'qr_required');
        $this->now += 10;
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'h-t2')->provider);
        $this->assertSame(['cloud'], $this->made());
        // Stale (over 30 s): one cheap GET confirms it before deciding.
        $this->webState = 'qr_required';
        $this->now += 40;
        $this->calls = [];
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'h-t3')->provider);
        $this->assertSame(['web-get', 'cloud'], $this->made());
    }

    public function test_web_returns_only_after_it_has_been_connected_for_return_after(): void
    {
        Event::fake([ProviderSwitched::class]);
        $this->web = $this->notReady();
        $s = $this->selector();
        $s->send('acme', $this->text(), 'a');
        $this->web = [202, ['id' => 'msg_b']];
        $s->noteWebState('acme', 'connected');
        $this->now += 30;
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'b')->provider, 'connected 30 s < return_after');
        $this->now += 31;
        $this->calls = [];
        $this->webState = 'connected';
        $r = $s->send('acme', $this->text(), 'c');
        $this->assertSame('web', $r->provider);
        Event::assertDispatched(ProviderSwitched::class, fn (ProviderSwitched $e) => [$e->from, $e->to] === ['cloud', 'web']);
    }

    public function test_the_breaker_keeps_web_out_after_repeated_failures_then_lets_it_try_again(): void
    {
        $s = $this->selector(['return_after' => 0]);
        $this->web = ['timeout'];
        foreach (['x1', 'x2', 'x3'] as $i => $id) {
            $s->noteWebState('acme', 'connected');
            $this->now += 1;
            $this->assertSame('cloud', $s->send('acme', $this->text(), $id)->provider);
        }
        $this->assertSame(6, count(array_filter($this->made(), fn ($m) => $m === 'web')), 'three sends, each tried twice');
        // Open: even a fresh "connected" does not bring web back.
        $s->noteWebState('acme', 'connected');
        $this->now += 100;
        $this->calls = [];
        $this->assertSame('cloud', $s->choose('acme'));
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'x4')->provider);
        $this->assertSame(['cloud'], $this->made());
        $this->assertNotNull($s->state('acme')['breaker_until']);
        // Past open_for (120 s), web connected since long enough: web again.
        $this->now += 200;
        $this->web = [202, ['id' => 'msg_x5']];
        $this->webState = 'connected';
        $s->noteWebState('acme', 'connected');
        $this->now += 61;
        $this->assertSame('web', $s->send('acme', $this->text(), 'x5')->provider);
    }

    public function test_a_manual_override_wins_both_ways(): void
    {
        $s = $this->selector();
        $s->override('acme', 'cloud');
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'o1')->provider);
        $this->assertSame(['cloud'], $this->made());

        $s->override('acme', 'web');
        $this->web = $this->notReady();
        try {
            $s->send('acme', $this->text(), 'o2');
            $this->fail('web only: no failover');
        } catch (NoProviderAvailable $e) {
            $this->assertArrayHasKey('web', $e->reasons);
        }
        $this->assertSame(['cloud', 'web'], array_values(array_filter($this->made(), fn ($m) => $m !== 'web-get')));
        $s->override('acme', null);
        $this->assertSame('cloud', $s->send('acme', $this->text(), 'o3')->provider);
    }

    public function test_outside_the_window_a_mapped_intent_sends_its_template_and_an_unmapped_one_raises_template_required(): void
    {
        $s = $this->selector();
        $s->override('acme', 'cloud');
        $this->cloud = [400, ['error' => ['message' => '(#131047) Re-engagement message', 'type' => 'OAuthException', 'code' => 131047, 'error_data' => ['details' => 'more than 24 hours']]]];
        try {
            $s->send('acme', $this->text('free form'), 'w1', 'unmapped_intent');
            $this->fail('TemplateRequired expected');
        } catch (TemplateRequired $e) {
            $this->assertSame(['unmapped_intent', '15557654321'], [$e->intent, $e->to]);
        }
        $this->assertSame(['cloud'], $this->made(), 'one refused attempt, nothing else');
        $this->assertNull($s->sent('w1'));

        // Mapped, window not known open: the template goes directly.
        $this->calls = [];
        $this->cloud = [200, ['messages' => [['id' => 'wamid.T1']]]];
        $r = $s->send('acme', $this->text('your order shipped'), 'w2', 'order_update', ['Ann', '#42']);
        $this->assertSame('wamid.T1', $r->providerMessageId);
        $this->assertCount(1, $this->calls);
        $tpl = json_decode($this->calls[0]->body(), true);
        $this->assertSame(['template', 'order_update', 'en_US', 'w2'], [$tpl['type'], $tpl['template']['name'], $tpl['template']['language']['code'], $tpl['biz_opaque_callback_data']]);
        $this->assertSame([['type' => 'text', 'text' => 'Ann'], ['type' => 'text', 'text' => '#42']], $tpl['template']['components'][0]['parameters']);

        // The phone wrote: free-form goes, even with a mapping.
        $this->calls = [];
        $s->noteCloudInbound('acme', '15557654321');
        $s->send('acme', $this->text('free now'), 'w3', 'order_update', ['Ann', '#43']);
        $this->assertSame('text', json_decode($this->calls[0]->body(), true)['type']);
    }

    public function test_a_bad_token_stops_cloud_with_one_event_and_no_retry_storm(): void
    {
        Event::fake([CloudProviderStopped::class]);
        $this->web = $this->notReady();
        $this->cloud = [401, ['error' => ['message' => 'Invalid OAuth access token', 'type' => 'OAuthException', 'code' => 190]]];
        $s = $this->selector();
        for ($i = 0; $i < 5; $i++) {
            try {
                $s->send('acme', $this->text(), "t{$i}");
                $this->fail('nothing can send');
            } catch (NoProviderAvailable $e) {
                $this->assertStringContainsString($i === 0 ? '190' : 'stopped', $e->reasons['cloud']);
            }
        }
        $this->assertSame(1, count(array_filter($this->made(), fn ($m) => $m === 'cloud')), 'Cloud was asked once');
        Event::assertDispatchedTimes(CloudProviderStopped::class, 1);
        Event::assertDispatched(CloudProviderStopped::class, fn (CloudProviderStopped $e) => $e->workspace === 'acme' && $e->code === 190);

        $s->enableCloud('acme');
        $this->cloud = [200, ['messages' => [['id' => 'wamid.OK']]]];
        $this->assertSame('cloud', $s->send('acme', $this->text(), 't9')->provider);
    }

    public function test_inline_media_is_uploaded_to_the_cloud_number_then_sent_by_id(): void
    {
        $s = $this->selector();
        $s->override('acme', 'cloud');
        $s->noteCloudInbound('acme', '15557654321');
        $this->cloud = [200, ['id' => '4490709327384033', 'messages' => [['id' => 'wamid.M1']]]];
        $png = "\x89PNG\r\n\x1a\n".str_repeat("\x07", 64);
        $r = $s->send('acme', ['to' => '15557654321', 'type' => 'image', 'image' => ['data' => base64_encode($png), 'mime_type' => 'image/png', 'caption' => 'receipt']], 'm1');
        $this->assertSame('wamid.M1', $r->providerMessageId);
        $this->assertCount(2, $this->calls);
        [$upload, $send] = $this->calls;
        $this->assertSame('http://graph.test/v21.0/PN1/media', $upload->url());
        $this->assertStringContainsString('multipart/form-data', $upload->header('Content-Type')[0]);
        $this->assertStringContainsString($png, $upload->body());
        $this->assertSame(['id' => '4490709327384033', 'caption' => 'receipt'], json_decode($send->body(), true)['image']);
    }

    private function cloudHook(array $value, ?string $secret = 'meta-secret')
    {
        $body = json_encode(['object' => 'whatsapp_business_account', 'entry' => [['id' => 'WABA', 'changes' => [['field' => 'messages',
            'value' => ['messaging_product' => 'whatsapp', 'metadata' => ['display_phone_number' => '15550300000', 'phone_number_id' => 'PN1']] + $value]]]]]);
        $sig = 'sha256='.hash_hmac('sha256', $body, (string) $secret);

        return $this->call('POST', '/webhooks/whatsapp-cloud', [], [], [], $this->transformHeadersToServerVars(['X-Hub-Signature-256' => $sig, 'Content-Type' => 'application/json']), $body);
    }

    public function test_cloud_webhooks_are_verified_and_statuses_join_one_monotonic_stream(): void
    {
        Event::fake([MessageStatusChanged::class, MessageReceived::class]);
        $s = $this->app->make(ProviderSelector::class);
        $st = fn (string $status) => ['statuses' => [['id' => 'wamid.S1', 'status' => $status, 'timestamp' => '1800000000', 'recipient_id' => '15557654321', 'biz_opaque_callback_data' => 'host-s']]];

        $this->cloudHook($st('sent'), 'wrong-secret')->assertStatus(403);
        Event::assertNotDispatched(MessageStatusChanged::class);

        foreach (['sent', 'read', 'delivered', 'read'] as $status) {
            $this->cloudHook($st($status))->assertOk();
        }
        $seen = [];
        Event::assertDispatched(MessageStatusChanged::class, function (MessageStatusChanged $e) use (&$seen) {
            $seen[] = [$e->status(), $e->hostId(), $e->provider(), $e->messageId(), $e->workspace(), $e->session()];

            return true;
        });
        $this->assertSame([['sent', 'host-s', 'cloud', 'wamid.S1', 'acme', 'cloud'], ['read', 'host-s', 'cloud', 'wamid.S1', 'acme', 'cloud']], $seen);
        $this->assertSame('read', $s->status('host-s'));

        // A phone's message: MessageReceived, and the window is open.
        $this->assertFalse($s->windowOpen('acme', '15557654321'));
        $in = ['contacts' => [['profile' => ['name' => 'Ann'], 'wa_id' => '15557654321']], 'messages' => [['from' => '15557654321', 'id' => 'wamid.IN', 'timestamp' => '1800000001', 'type' => 'text', 'text' => ['body' => 'hello café']]]];
        $this->cloudHook($in)->assertOk();
        $this->cloudHook($in)->assertOk();
        Event::assertDispatchedTimes(MessageReceived::class, 1);
        Event::assertDispatched(MessageReceived::class, fn (MessageReceived $e) => [$e->messageId(), $e->text(), $e->sender()['pn'], $e->sender()['push_name'], $e->session()] === ['wamid.IN', 'hello café', '15557654321', 'Ann', 'cloud']);
        $this->assertTrue($s->windowOpen('acme', '15557654321'));

        $this->get('/webhooks/whatsapp-cloud?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=123')->assertOk()->assertSee('123');
        $this->get('/webhooks/whatsapp-cloud?hub.mode=subscribe&hub.verify_token=no&hub.challenge=123')->assertStatus(403);
    }

    public function test_a_web_message_that_expired_goes_again_by_cloud_under_the_same_host_id(): void
    {
        Event::fake([MessageStatusChanged::class]);
        $s = $this->app->make(ProviderSelector::class);
        $this->assertSame('web', $s->send('acme', $this->text('late'), 'host-e')->provider);
        $json = json_encode(['type' => 'message.status', 'workspace' => 'acme', 'session' => 'main', 'data' => [
            'id' => 'msg_1', 'status' => 'failed', 'client_ref' => 'host-e', 'error' => ['code' => 'expired', 'message' => 'no connection for 5 min'],
        ]]);
        $this->call('POST', '/webhooks/wa-sidecar', [], [], [], $this->transformHeadersToServerVars(self::webhookHeaders('evt_exp', $json) + ['Content-Type' => 'application/json']), $json)->assertOk();
        Event::assertNotDispatched(MessageStatusChanged::class);
        $this->assertSame(['cloud', 'wamid.C1'], [$s->sent('host-e')['provider'], $s->sent('host-e')['provider_message_id']]);
        $last = end($this->calls);
        $this->assertSame('host-e', json_decode($last->body(), true)['biz_opaque_callback_data']);
    }
}
