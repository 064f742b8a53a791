<?php

namespace WaSidecar\Laravel\Tests\Live;

use WaSidecar\Laravel\Facades\WaSidecar;
use WaSidecar\Laravel\Tests\TestCase;

/**
 * Live, everything real on loopback: wa-sim, the built sidecar, the test Laravel app (php -S)
 * broadcasting through Laravel's PusherBroadcaster to sockudo, and headless Chromium on the
 * admin page (Echo over pusher-js, the package's QR module). The QR is read from a screenshot of
 * the page and scanned by the wa-sim phone; the page then shows "connected". An admin of another
 * workspace is refused the channel. Screenshots: tests/output/.
 */
class BrowserQrTest extends TestCase
{
    private ?LiveStack $stack = null;

    protected function setUp(): void
    {
        parent::setUp();
        foreach (['WA_SIDECAR_BIN', 'WA_SIM_BIN', 'WA_SOCKUDO_BIN'] as $bin) {
            if (LiveStack::binary($bin) === null) {
                $this->markTestSkipped("{$bin} is not set (ops/test-php.sh builds and sets it)");
            }
        }
        if (! is_dir((string) getenv('WA_TEST_NODE_MODULES').'/puppeteer-core')) {
            $this->markTestSkipped('WA_TEST_NODE_MODULES has no puppeteer-core (ops/test-php.sh installs it)');
        }
        $this->stack = new LiveStack();
        $this->stack->startSim();
        $this->stack->startSockudo();
    }

    /** Who publishes QR and status to sockudo: the package (Laravel's broadcaster) or the sidecar. */
    public static function publishers(): array
    {
        return ['the package rebroadcasts' => ['laravel'], 'the sidecar publishes ([broadcast])' => ['sidecar']];
    }

    private function startRest(string $publisher, string $secret = LiveStack::PUSHER['secret']): void
    {
        $this->stack->startApp($publisher === 'laravel');
        if ($publisher === 'sidecar') {
            $this->stack->startSidecar($this->stack->sidecarBroadcastToml(), ['SIDECAR__BROADCAST__SECRET' => $secret]);
        } else {
            $this->stack->startSidecar();
        }
        config()->set('wa-sidecar.url', $this->stack->sidecarUrl);
    }

    protected function tearDown(): void
    {
        $this->stack?->stop();
        $this->stack = null;
        parent::tearDown();
    }

    /** @dataProvider publishers */
    public function test_the_admin_sees_the_qr_and_then_connected_and_another_workspace_is_refused(string $publisher): void
    {
        $this->startRest($publisher);
        $stack = $this->stack;
        $out = dirname(__DIR__).'/output/browser-qr-'.$publisher;
        @mkdir($out, 0755, true);
        $browser = $stack->own(new OwnedProcess('browser', ['node', dirname(__DIR__).'/browser/admin-page.mjs', $stack->appUrl, 'acme', 'main', $out, $stack->dir.'/chromium-profile'],
            ['NODE_PATH' => (string) getenv('WA_TEST_NODE_MODULES')], dirname(__DIR__).'/browser', $stack->dir.'/browser.log', true, 5));

        $browser->waitLine('READY', 60);
        WaSidecar::createSession('acme', 'main');

        $shown = $browser->waitLine('QR ', 90);
        $this->assertFileExists($out.'/admin-qr.png');
        $this->assertSame(WaSidecar::qrRaw('acme', 'main'), $shown, 'the page shows the session\'s current QR');
        $device = $stack->sim('POST', '/scan', ['code' => $shown, 'phone' => '15551234567']);
        $this->assertArrayHasKey('id', $device, json_encode($device));

        $connected = $browser->waitLine('CONNECTED', 60);
        $this->assertStringContainsString('connected', $connected);
        $this->assertSame(0, $browser->waitExit(20), 'the browser script ends cleanly');
        $this->assertFileExists($out.'/admin-connected.png');
        $this->assertFalse($browser->groupAlive(), 'no browser process outlives the test');
        if ($publisher === 'sidecar') {
            // What the page showed came from the sidecar: Laravel's rebroadcast was off.
            $this->assertMatchesRegularExpression('/^wa_sidecar_broadcast_published_total ([2-9]|\d\d)/m', $stack->sidecarMetrics());
        }
    }

    public function test_a_wrong_broadcast_secret_is_logged_and_metered_and_callbacks_go_on(): void
    {
        $this->startRest('sidecar', 'not-the-secret');
        $stack = $this->stack;
        WaSidecar::createSession('acme', 'main');
        $stack->waitEvent(fn ($e) => $e['type'] === 'session.qr', 45, 'SessionQrUpdated (callbacks go on)');
        $deadline = microtime(true) + 20;
        while (! preg_match('/^wa_sidecar_broadcast_refused_total ([1-9]\d*)/m', $stack->sidecarMetrics()) && microtime(true) < $deadline) {
            usleep(200000);
        }
        $metrics = $stack->sidecarMetrics();
        $this->assertMatchesRegularExpression('/^wa_sidecar_broadcast_refused_total [1-9]/m', $metrics);
        $this->assertMatchesRegularExpression('/^wa_sidecar_broadcast_published_total 0/m', $metrics);
        $this->assertStringContainsString('the server refused the event', $stack->tail('sidecar.log', 20000));
        $this->assertStringContainsString('status=401', $stack->tail('sidecar.log', 20000));
        $this->assertSame('qr_required', WaSidecar::getSession('acme', 'main')['state']);
    }
}
