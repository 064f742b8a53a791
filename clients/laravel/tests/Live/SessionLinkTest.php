<?php

namespace WaSidecar\Laravel\Tests\Live;

use WaSidecar\Laravel\Exceptions\NotFoundException;
use WaSidecar\Laravel\Facades\WaSidecar;
use WaSidecar\Laravel\Tests\TestCase;

/**
 * Live, on loopback: the built sidecar against wa-sim, calling back the test Laravel app served by
 * `php -S`; this test uses the package as the host's code does. A session created through the
 * package gets a QR as a SessionQrUpdated event in the app; the phone scans it; the app gets
 * SessionStatusChanged "connected".
 */
class SessionLinkTest extends TestCase
{
    private ?LiveStack $stack = null;

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
        $this->stack->startApp();
        $this->stack->startSidecar();
        config()->set('wa-sidecar.url', $this->stack->sidecarUrl);
        config()->set('wa-sidecar.key', LiveStack::KEY_B64);
    }

    protected function tearDown(): void
    {
        $this->stack?->stop();
        $this->stack = null;
        parent::tearDown();
    }

    public function test_a_session_created_through_the_package_links_by_qr_and_reports_connected(): void
    {
        $stack = $this->stack;
        $created = WaSidecar::createSession('acme', 'main', ['metadata' => ['team' => 'sales']]);
        $this->assertSame('main', $created['id']);
        $this->assertSame(['main'], array_column(WaSidecar::listSessions('acme'), 'id'));

        $qr = $stack->waitEvent(fn ($e) => $e['type'] === 'session.qr' && $e['session'] === 'main', 45, 'SessionQrUpdated');
        $this->assertSame('WaSidecar\Laravel\Events\SessionQrUpdated', $qr['class']);
        $this->assertSame('acme', $qr['workspace']);
        $raw = $qr['data']['raw'];
        $this->assertNotEmpty($raw);
        $this->assertSame($raw, WaSidecar::qrRaw('acme', 'main'), 'the route and the callback show the same QR');
        $this->assertStringStartsWith("\x89PNG", WaSidecar::qrPng('acme', 'main'));

        $device = $stack->sim('POST', '/scan', ['code' => $raw, 'phone' => '15551234567']);
        $this->assertArrayHasKey('id', $device, json_encode($device));

        $connected = $stack->waitEvent(fn ($e) => $e['type'] === 'session.status' && ($e['data']['state'] ?? '') === 'connected', 45, 'SessionStatusChanged connected');
        $this->assertSame('WaSidecar\Laravel\Events\SessionStatusChanged', $connected['class']);
        $this->assertSame('connected', WaSidecar::getSession('acme', 'main')['state']);

        // Every event reached the app exactly once (webhook ids are unique in what was dispatched).
        $ids = array_column($stack->events(), 'id');
        $this->assertSame(count($ids), count(array_unique($ids)));

        try {
            WaSidecar::getSession('acme', 'ghost');
            $this->fail('an unknown session was found');
        } catch (NotFoundException $e) {
            $this->assertSame('SESSION_NOT_FOUND', $e->errorCode);
            $this->assertNotEmpty($e->requestId);
        }

        WaSidecar::deleteSession('acme', 'main');
        $this->assertSame([], WaSidecar::listSessions('acme'));
    }
}
