<?php

namespace WaSidecar\Laravel\Tests\Live;

use Illuminate\Support\Facades\Event;
use RuntimeException;
use WaSidecar\Laravel\Events\CloudProviderStopped;
use WaSidecar\Laravel\Events\ProviderSwitched;
use WaSidecar\Laravel\Facades\WaSidecar;
use WaSidecar\Laravel\Failover\NoProviderAvailable;
use WaSidecar\Laravel\Failover\ProviderSelector;
use WaSidecar\Laravel\Failover\TemplateRequired;
use WaSidecar\Laravel\Tests\TestCase;

/**
 * Live failover, on loopback: wa-sim with both doors (the web session's page and a Cloud number
 * whose webhooks go to the test app under `php -S`), the built sidecar, and ProviderSelector in
 * this process sharing the app's file cache (session states and Cloud windows learned from
 * webhooks). What the phone shows is read from wa-sim's control API.
 */
class FailoverTest extends TestCase
{
    private const ACCOUNT = '15551234567';

    private const BIZ = '15550300000';

    private const PNID = '106540352242922';

    private const TOKEN = 'cloud-token-1';

    private const APP_SECRET = 'meta-app-secret';

    private ?LiveStack $stack = null;

    /** @var list<object> events this process dispatched (ProviderSwitched, CloudProviderStopped) */
    private array $local = [];

    protected function setUp(): void
    {
        parent::setUp();
        foreach (['WA_SIDECAR_BIN', 'WA_SIM_BIN'] as $bin) {
            if (LiveStack::binary($bin) === null) {
                $this->markTestSkipped("{$bin} is not set (ops/test-php.sh builds and sets it)");
            }
        }
        $this->stack = new LiveStack();
        $this->stack->startSim();
        $failover = [
            'enabled' => true, 'app_secret' => self::APP_SECRET, 'cache_store' => 'file',
            'graph_url' => $this->stack->simUrl, 'graph_version' => 'v21.0',
            'return_after' => 2, 'status_stale_after' => 2, 'web_timeout' => 5,
            'workspaces' => ['acme' => ['session' => 'main', 'phone_number_id' => self::PNID, 'token' => self::TOKEN,
                'templates' => ['order_update' => ['name' => 'order_update', 'language' => 'en_US']]]],
        ];
        $this->stack->startApp(true, ['WA_TEST_FAILOVER' => json_encode($failover)]);
        config()->set('wa-sidecar.failover', array_replace_recursive((array) config('wa-sidecar.failover'), $failover));
        // This process and the app share one cache: what the app's webhooks learn, the selector sees.
        config()->set('cache.stores.file.path', $this->stack->cacheDir());
        config()->set('wa-sidecar.key', LiveStack::KEY_B64);
        $this->stack->sim('POST', '/cloud/numbers', ['phone_number_id' => self::PNID, 'phone' => self::BIZ, 'token' => self::TOKEN,
            'webhook_url' => $this->stack->appUrl.'/webhooks/whatsapp-cloud', 'app_secret' => self::APP_SECRET, 'name' => 'Acme Support']);
        $this->stack->sim('POST', '/cloud/numbers/'.self::PNID.'/templates', ['name' => 'order_update', 'language' => 'en_US', 'body' => 'Hi {{1}}, your order {{2}} has shipped']);
        Event::listen([ProviderSwitched::class, CloudProviderStopped::class], function ($e) {
            $this->local[] = $e;
        });
    }

    protected function tearDown(): void
    {
        $this->stack?->stop();
        $this->stack = null;
        parent::tearDown();
    }

    private function selector(): ProviderSelector
    {
        $this->app->forgetInstance(ProviderSelector::class);

        return $this->app->make(ProviderSelector::class);
    }

    private function startSidecar(): void
    {
        $this->stack->startSidecar();
        config()->set('wa-sidecar.url', $this->stack->sidecarUrl);
        $this->app->forgetInstance(\WaSidecar\Laravel\Client::class);
        WaSidecar::clearResolvedInstances();
    }

    public function test_web_then_cloud_while_the_session_is_down_then_web_again_each_message_once(): void
    {
        $stack = $this->stack;
        $friend = '15557654321';
        $this->startSidecar();
        $this->link('acme', 'main');

        // The friend writes to the Cloud number: the app hears it (MessageReceived) and the window opens.
        $stack->sim('POST', '/messages', ['from' => $friend, 'to' => self::BIZ, 'type' => 'text', 'text' => 'hi business']);
        $in = $stack->waitEvent(fn ($e) => $e['type'] === 'message.received' && $e['session'] === 'cloud', 20, 'MessageReceived from the Cloud webhook');
        $this->assertSame(['hi business', $friend, 'cloud'], [$in['data']['text'], $in['data']['from']['pn'], $in['data']['provider']]);

        $s = $this->selector();
        $this->assertSame('web', $s->send('acme', $this->text($friend, 'one'), 'host-1')->provider);
        $this->waitPhone($friend, 'one');

        // Another client takes the account over: the session is `conflict`; the next ones go by Cloud.
        $stack->sim('POST', '/conflict', ['phone' => self::ACCOUNT]);
        $stack->waitEvent(fn ($e) => $e['type'] === 'session.status' && ($e['data']['state'] ?? '') === 'conflict', 30, 'SessionStatusChanged conflict');
        $two = $s->send('acme', $this->text($friend, 'two'), 'host-2');
        $this->assertSame('cloud', $two->provider);
        $this->assertStringStartsWith('wamid.', $two->providerMessageId);
        $this->assertSame('cloud', $s->send('acme', $this->text($friend, 'three'), 'host-3')->provider);
        $this->waitPhone($friend, 'three');
        $this->assertTrue($s->send('acme', $this->text($friend, 'two'), 'host-2')->repeat, 'a retried job sends nothing');
        $this->assertSame([['web', 'cloud']], array_map(fn ($e) => [$e->from, $e->to], array_filter($this->local, fn ($e) => $e instanceof ProviderSwitched)));

        // The Cloud statuses reach the app with the host id.
        $st = $stack->waitEvent(fn ($e) => $e['type'] === 'message.status' && ($e['data']['host_id'] ?? '') === 'host-2' && $e['data']['status'] === 'delivered', 20, 'MessageStatusChanged delivered for host-2');
        $this->assertSame(['cloud', $two->providerMessageId], [$st['data']['provider'], $st['data']['id']]);

        // The session is started again: once connected for return_after, web takes over.
        WaSidecar::startSession('acme', 'main');
        $this->waitConnected(2);
        sleep(3);
        $this->assertSame('web', $s->send('acme', $this->text($friend, 'four'), 'host-4')->provider);
        $this->waitPhone($friend, 'four');

        // Chromium is killed under the session: `disconnected` until the sidecar restarts it; Cloud
        // meanwhile (a message accepted while disconnected would wait in the sidecar), then web.
        // wa-sim then keeps the restarted page off the network until the Cloud send is done, so the
        // sidecar's quick recovery (1 s backoff) cannot win the race against this test.
        $this->assertGreaterThan(0, $this->killChromium(), 'a Chromium process to kill');
        $stack->sim('POST', '/offline', ['phone' => self::ACCOUNT]);
        $stack->waitEvent(fn ($e) => $e['type'] === 'session.status' && ($e['data']['state'] ?? '') === 'disconnected', 30, 'SessionStatusChanged disconnected');
        $this->assertSame('cloud', $s->send('acme', $this->text($friend, 'four and a half'), 'host-4b')->provider);
        $this->waitPhone($friend, 'four and a half');
        $stack->sim('POST', '/online', ['phone' => self::ACCOUNT]);
        $this->waitConnected(3);
        sleep(3);
        $this->assertSame('web', $s->send('acme', $this->text($friend, 'almost five'), 'host-4c')->provider);
        $this->waitPhone($friend, 'almost five');

        // The sidecar itself stops: the next message goes by Cloud.
        $stack->stopProcess('sidecar');
        $this->assertSame('cloud', $s->send('acme', $this->text($friend, 'five'), 'host-5')->provider);
        $this->waitPhone($friend, 'five');

        // It comes back (the session restores its login by itself): web again.
        $this->startSidecar();
        $s = $this->selector();
        $this->waitConnected(4);
        sleep(3);
        $this->assertSame('web', $s->send('acme', $this->text($friend, 'six'), 'host-6')->provider);
        $this->waitPhone($friend, 'six');

        // The phone got each message exactly once, by the door the selector said.
        sleep(2);
        $got = $this->received($friend);
        $by = [];
        foreach ($got as $m) {
            $by[] = [$m['body'], $m['sender']];
        }
        $this->assertSame([['one', self::ACCOUNT], ['two', self::BIZ], ['three', self::BIZ], ['four', self::ACCOUNT], ['four and a half', self::BIZ], ['almost five', self::ACCOUNT], ['five', self::BIZ], ['six', self::ACCOUNT]], $by);
    }

    public function test_templates_outside_the_window_out_of_order_statuses_and_a_bad_token(): void
    {
        $stack = $this->stack;
        $ann = '15557650001';
        // No sidecar at all: web is unreachable, everything goes by Cloud.
        config()->set('wa-sidecar.url', 'http://127.0.0.1:'.LiveStack::freePort());
        $s = $this->selector();

        // Ann never wrote: without a mapping, TemplateRequired and nothing on her phone.
        try {
            $s->send('acme', $this->text($ann, 'your order shipped'), 'tpl-1', 'shipping_notice');
            $this->fail('TemplateRequired expected');
        } catch (TemplateRequired $e) {
            $this->assertSame(['shipping_notice', $ann], [$e->intent, $e->to]);
        }
        $this->assertSame([], $this->received($ann));
        $this->assertSame([], $stack->sim('GET', '/cloud/messages'));

        // With a mapping: the template arrives, filled in.
        $r = $s->send('acme', $this->text($ann, 'your order shipped'), 'tpl-2', 'order_update', ['Ann', '#42']);
        $this->assertSame('cloud', $r->provider);
        $this->waitPhone($ann, 'Hi Ann, your order #42 has shipped');

        // Read before delivered (auto delivery off): the stream ends at `read`, never back to delivered.
        $stack->sim('POST', '/cloud/numbers', ['phone_number_id' => self::PNID, 'phone' => self::BIZ, 'token' => self::TOKEN,
            'webhook_url' => $stack->appUrl.'/webhooks/whatsapp-cloud', 'app_secret' => self::APP_SECRET, 'name' => 'Acme Support', 'auto_deliver' => false]);
        $stack->sim('POST', '/messages', ['from' => $ann, 'to' => self::BIZ, 'type' => 'text', 'text' => 'thanks!']);
        $stack->waitEvent(fn ($e) => $e['type'] === 'message.received' && ($e['data']['text'] ?? '') === 'thanks!', 20, 'MessageReceived thanks');
        $r = $s->send('acme', $this->text($ann, 'anything else?'), 'ooo-1');
        $this->assertSame('text', $stack->sim('GET', '/cloud/messages')[1]['type'], 'free-form inside the window');
        $stack->waitEvent(fn ($e) => $e['type'] === 'message.status' && ($e['data']['host_id'] ?? '') === 'ooo-1' && $e['data']['status'] === 'sent', 20, 'sent');
        $stack->sim('POST', '/cloud/messages/'.$r->providerMessageId.'/status', ['status' => 'read']);
        $stack->sim('POST', '/cloud/messages/'.$r->providerMessageId.'/status', ['status' => 'delivered']);
        $this->waitFor(fn () => count($stack->sim('GET', '/cloud/webhooks')) >= 6 ? true : null, 20, 'the status webhooks delivered');
        $hooks = array_filter($stack->sim('GET', '/cloud/webhooks'), fn ($h) => ($h['body']['entry'][0]['changes'][0]['value']['statuses'][0]['id'] ?? '') === $r->providerMessageId);
        $this->assertSame(['sent', 'read', 'delivered'], array_values(array_map(fn ($h) => $h['body']['entry'][0]['changes'][0]['value']['statuses'][0]['status'], $hooks)), 'wa-sim sent them out of order');
        $this->assertSame([200, 200, 200], array_values(array_column($hooks, 'status')), 'the app verified and took each');
        $statuses = array_values(array_map(fn ($e) => $e['data']['status'], array_filter($stack->events(), fn ($e) => $e['type'] === 'message.status' && ($e['data']['host_id'] ?? '') === 'ooo-1')));
        $this->assertSame(['sent', 'read'], $statuses);
        $this->assertSame('read', $s->status('ooo-1'));

        // Inline media (the sidecar's shape) goes up to the Cloud number first; the phone gets the bytes.
        $png = "\x89PNG\r\n\x1a\n".random_bytes(500);
        $s->send('acme', ['to' => '+'.$ann, 'type' => 'image', 'image' => ['data' => base64_encode($png), 'mime_type' => 'image/png', 'caption' => 'your receipt']], 'img-1');
        $img = $this->waitFor(fn () => array_values(array_filter($this->received($ann), fn ($m) => ($m['caption'] ?? '') === 'your receipt')) ?: null, 20, 'the image on the phone');
        $this->assertSame(['image', 'image/png', self::BIZ], [$img[0]['type'], $img[0]['mimetype'], $img[0]['sender']]);
        $this->assertSame($png, file_get_contents($stack->simUrl.'/_sim/media/'.rawurlencode($img[0]['id'])));

        // The token is revoked (rotated at Meta): one refused send, an event, and no more Cloud requests.
        $stack->sim('POST', '/cloud/numbers', ['phone_number_id' => self::PNID, 'phone' => self::BIZ, 'token' => 'rotated-elsewhere',
            'webhook_url' => $stack->appUrl.'/webhooks/whatsapp-cloud', 'app_secret' => self::APP_SECRET]);
        $before = $stack->sim('GET', '/cloud/numbers')[0]['requests'];
        for ($i = 0; $i < 4; $i++) {
            try {
                $s->send('acme', $this->text($ann, "storm {$i}"), "bad-{$i}");
                $this->fail('nothing can send');
            } catch (NoProviderAvailable $e) {
                $this->assertArrayHasKey('cloud', $e->reasons);
            }
        }
        $this->assertSame($before + 1, $stack->sim('GET', '/cloud/numbers')[0]['requests'], 'one Cloud request, no retry storm');
        $stopped = array_values(array_filter($this->local, fn ($e) => $e instanceof CloudProviderStopped));
        $this->assertCount(1, $stopped);
        $this->assertSame(['acme', 190], [$stopped[0]->workspace, $stopped[0]->code]);
        $this->assertNotNull($s->state('acme')['cloud_stopped']);
        $this->assertCount(0, array_filter($this->received($ann), fn ($m) => str_starts_with((string) $m['body'], 'storm')));
    }

    /** SIGKILL every Chromium process of this stack's sidecar (its profile lives under the stack's dir). */
    private function killChromium(): int
    {
        $killed = 0;
        foreach (glob('/proc/[0-9]*/cmdline') ?: [] as $file) {
            $cmd = (string) @file_get_contents($file);
            if (str_contains($cmd, $this->stack->dir) && str_contains($cmd, 'chrom') && ! str_contains($cmd, 'wa-sidecar')) {
                $killed += @posix_kill((int) basename(dirname($file)), SIGKILL) ? 1 : 0;
            }
        }

        return $killed;
    }

    private function text(string $to, string $body): array
    {
        return ['to' => '+'.$to, 'type' => 'text', 'text' => ['body' => $body]];
    }

    private function link(string $workspace, string $session): void
    {
        WaSidecar::createSession($workspace, $session);
        $qr = $this->stack->waitEvent(fn ($e) => $e['type'] === 'session.qr' && $e['session'] === $session, 45, 'SessionQrUpdated');
        $device = $this->stack->sim('POST', '/scan', ['code' => $qr['data']['raw'], 'phone' => self::ACCOUNT]);
        $this->assertArrayHasKey('id', $device, json_encode($device));
        $this->waitConnected(1);
    }

    /** Waits until the app has heard `connected` $n times in all. */
    private function waitConnected(int $n): void
    {
        $this->waitFor(fn () => count(array_filter($this->stack->events(), fn ($e) => $e['type'] === 'session.status' && ($e['data']['state'] ?? '') === 'connected')) >= $n ? true : null, 60, "SessionStatusChanged connected #{$n}");
    }

    /** @return list<array> what $phone received, oldest first */
    private function received(string $phone): array
    {
        return $this->stack->sim('GET', '/accounts/'.$phone.'/messages')['received'] ?? [];
    }

    private function waitPhone(string $phone, string $body): void
    {
        $this->waitFor(fn () => array_filter($this->received($phone), fn ($m) => ($m['body'] ?? '') === $body) ?: null, 60, "'{$body}' on {$phone}'s phone");
    }

    private function waitFor(callable $probe, float $timeout, string $what): mixed
    {
        $deadline = microtime(true) + $timeout;
        do {
            $got = $probe();
            if ($got !== null) {
                return $got;
            }
            usleep(200000);
        } while (microtime(true) < $deadline);
        throw new RuntimeException("no {$what} within {$timeout} s; sidecar log tail: ".$this->stack->tail('sidecar.log')."\napp log: ".$this->stack->tail('laravel.log'));
    }
}
