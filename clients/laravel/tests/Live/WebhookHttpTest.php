<?php

namespace WaSidecar\Laravel\Tests\Live;

use WaSidecar\Laravel\Tests\TestCase;

/**
 * The webhook route of the test app over real HTTP (php -S, file cache for seen ids): what the
 * sidecar's deliveries get back, and that refused ones dispatch no event.
 */
class WebhookHttpTest extends TestCase
{
    private ?LiveStack $stack = null;

    protected function setUp(): void
    {
        parent::setUp();
        $this->stack = new LiveStack();
        $this->stack->startApp();
    }

    protected function tearDown(): void
    {
        $this->stack?->stop();
        $this->stack = null;
        parent::tearDown();
    }

    /** @return array{int, string} status and body */
    private function deliver(string $body, array $headers): array
    {
        $lines = "Content-Type: application/json\r\n";
        foreach ($headers as $name => $value) {
            $lines .= "{$name}: {$value}\r\n";
        }
        $ctx = stream_context_create(['http' => ['method' => 'POST', 'header' => $lines, 'content' => $body, 'ignore_errors' => true, 'timeout' => 10]]);
        $answer = (string) file_get_contents($this->stack->appUrl.'/webhooks/wa-sidecar', false, $ctx);
        preg_match('/ (\d{3})/', $http_response_header[0] ?? '', $m);

        return [(int) ($m[1] ?? 0), $answer];
    }

    public function test_deliveries_over_http_get_the_right_status_and_only_valid_ones_an_event(): void
    {
        $event = fn (string $id, array $data = ['state' => 'connected']) => json_encode(['id' => $id, 'type' => 'session.status',
            'timestamp' => '2026-01-01T00:00:00.000Z', 'workspace' => 'acme', 'session' => 'main', 'data' => $data]);
        $secrets = [LiveStack::SECRET];

        $ok = $event('msg_http_ok');
        $this->assertSame(200, $this->deliver($ok, self::webhookHeaders('msg_http_ok', $ok, $secrets))[0]);
        [$status, $body] = $this->deliver($ok, self::webhookHeaders('msg_http_ok', $ok, $secrets, time() + 1));
        $this->assertSame([200, 'duplicate'], [$status, json_decode($body, true)['status'] ?? null], 'a replay is acknowledged, not dispatched');

        $big = $event('msg_http_big', ['pad' => str_repeat('x', 300000)]);
        $this->assertSame(413, $this->deliver($big, self::webhookHeaders('msg_http_big', $big, $secrets))[0]);
        $bad = '{"type": "session.status", "workspace": ';
        $this->assertSame(400, $this->deliver($bad, self::webhookHeaders('msg_http_bad', $bad, $secrets))[0]);
        $noSig = self::webhookHeaders('msg_http_nosig', $ok, $secrets);
        unset($noSig['webhook-signature']);
        $this->assertSame(400, $this->deliver($ok, $noSig)[0]);
        $this->assertSame(401, $this->deliver($ok, self::webhookHeaders('msg_http_stale', $ok, $secrets, time() - 400))[0]);
        $this->assertSame(401, $this->deliver($ok, self::webhookHeaders('msg_http_forged', $ok, [self::SECRET_B]))[0]);
        $tampered = $event('msg_http_t', ['state' => 'logged_out']);
        $this->assertSame(401, $this->deliver($tampered, self::webhookHeaders('msg_http_t', $ok, $secrets))[0]);

        $this->assertSame(['msg_http_ok'], array_column($this->stack->events(), 'id'), 'one event, from the one valid delivery');
    }
}
