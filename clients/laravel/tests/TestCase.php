<?php

namespace WaSidecar\Laravel\Tests;

use Illuminate\Foundation\Testing\TestCase as LaravelTestCase;

/**
 * A real Laravel application (Debian's 8.83) booted from tests/app, the package installed in it
 * through Composer and found by package discovery. Stands in for orchestra/testbench.
 */
abstract class TestCase extends LaravelTestCase
{
    public const KEY_B64 = 'c2lkZWNhci10ZXN0LXNlY3JldC0zMi1ieXRlcy0hISE=';

    public const SECRET_A = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

    public const SECRET_B = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

    public function createApplication()
    {
        $app = require __DIR__.'/app/bootstrap/app.php';
        $app->make(\Illuminate\Contracts\Console\Kernel::class)->bootstrap();
        $app['config']->set('wa-sidecar.url', 'http://127.0.0.1:9');
        $app['config']->set('wa-sidecar.key_id', 'host');
        $app['config']->set('wa-sidecar.key', self::KEY_B64);
        $app['config']->set('wa-sidecar.webhooks.secrets', self::SECRET_A.' '.self::SECRET_B);
        $app['config']->set('wa-sidecar.retry.sleep_ms', 1);
        $app['config']->set('cache.default', 'array');

        return $app;
    }

    /** tests/vectors/signing.json at the repository root: shared with the Rust tests. */
    public static function vectors(): array
    {
        static $vectors = null;

        return $vectors ??= json_decode(file_get_contents(__DIR__.'/../../../tests/vectors/signing.json'), true, 512, JSON_THROW_ON_ERROR);
    }

    /** Standard Webhooks headers over $body, signed with $secrets, at $timestamp. */
    public static function webhookHeaders(string $id, string $body, array $secrets = [self::SECRET_A], ?int $timestamp = null): array
    {
        $timestamp ??= time();
        $sigs = [];
        foreach ($secrets as $secret) {
            $sigs[] = 'v1,'.base64_encode(hash_hmac('sha256', "{$id}.{$timestamp}.{$body}", base64_decode(substr($secret, 6)), true));
        }

        return ['webhook-id' => $id, 'webhook-timestamp' => (string) $timestamp, 'webhook-signature' => implode(' ', $sigs)];
    }
}
