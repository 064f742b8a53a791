<?php

namespace WaSidecar\Laravel\Tests\Unit;

use GuzzleHttp\Psr7\Request;
use WaSidecar\Laravel\Signing\RequestSigner;
use WaSidecar\Laravel\Tests\TestCase;
use WaSidecar\Laravel\Webhooks\WebhookVerificationException;
use WaSidecar\Laravel\Webhooks\WebhookVerifier;

/** The package against every vector of tests/vectors/signing.json (the Rust tests check the same file). */
class SigningVectorsTest extends TestCase
{
    private static function body(array $v): string
    {
        return isset($v['body_base64']) ? base64_decode($v['body_base64'], true) : $v['body'];
    }

    public function test_the_signer_reproduces_every_request_vector(): void
    {
        $requests = self::vectors()['requests'];
        $this->assertGreaterThanOrEqual(6, count($requests));
        foreach ($requests as $v) {
            $signer = new RequestSigner($v['key_id'], $v['key']);
            $body = self::body($v);
            $this->assertSame($v['canonical'], RequestSigner::canonicalString($v['timestamp'], $v['nonce'], $v['method'], $v['path'], $v['query'], $body), $v['name']);
            $this->assertSame($v['signature'], $signer->signature($v['timestamp'], $v['nonce'], $v['method'], $v['path'], $v['query'], $body), $v['name']);

            // The same through the PSR request Guzzle sends: path, raw query and body as on the wire.
            $uri = 'http://127.0.0.1:8787'.$v['path'].($v['query'] !== '' ? '?'.$v['query'] : '');
            $signed = $signer->signPsr(new Request($v['method'], $uri, [], $body), $v['timestamp'], $v['nonce']);
            $this->assertSame($v['signature'], $signed->getHeaderLine('X-HMAC-Signature'), $v['name']);
            $this->assertSame($v['key_id'], $signed->getHeaderLine('X-Key-Id'));
            $this->assertSame((string) $v['timestamp'], $signed->getHeaderLine('X-Timestamp'));
            $this->assertSame($body, (string) $signed->getBody(), 'the body is left as it was');
        }
    }

    public function test_the_verifier_gives_every_webhook_vector_its_verdict(): void
    {
        $hooks = self::vectors()['webhooks'];
        $this->assertGreaterThanOrEqual(10, count($hooks));
        $seen = ['valid' => 0, 'signature' => 0, 'timestamp' => 0];
        foreach ($hooks as $v) {
            $verifier = new WebhookVerifier($v['secrets'], self::vectors()['tolerance_secs']);
            $h = $v['headers'];
            try {
                $verifier->verify($h['webhook-id'], $h['webhook-timestamp'], $h['webhook-signature'], $v['body'], $v['now']);
                $this->assertTrue($v['valid'], $v['name'].': accepted but should be refused');
                $seen['valid']++;
            } catch (WebhookVerificationException $e) {
                $this->assertFalse($v['valid'], $v['name'].': refused ('.$e->reason.') but is valid');
                $this->assertSame($v['reason'], $e->reason, $v['name']);
                $seen[$e->reason]++;
            }
        }
        $this->assertGreaterThan(0, $seen['signature']);
        $this->assertGreaterThan(0, $seen['timestamp']);
    }

    public function test_malformed_configuration_is_refused_without_echoing_the_secret(): void
    {
        foreach (['', 'C2FVsBQIhrscChlQIMV+b5sSYspob7oD', 'whsec_!!!', 'whsec_YWJj'] as $bad) {
            try {
                new WebhookVerifier($bad);
                $this->fail("accepted {$bad}");
            } catch (\InvalidArgumentException $e) {
                $this->assertStringNotContainsString('C2FV', $e->getMessage());
            }
        }
        $this->expectException(\InvalidArgumentException::class);
        new RequestSigner('host', base64_encode('too short'));
    }
}
