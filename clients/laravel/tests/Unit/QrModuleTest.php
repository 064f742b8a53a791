<?php

namespace WaSidecar\Laravel\Tests\Unit;

use PHPUnit\Framework\TestCase;

/** The QR encoder of the plain-JS module, decoded back by a QR reader (jsQR) under Node. */
class QrModuleTest extends TestCase
{
    public function test_the_encoder_produces_codes_a_reader_decodes_to_the_same_text(): void
    {
        $dir = dirname(__DIR__).'/browser';
        if (! is_dir($dir.'/node_modules/jsqr')) {
            $this->markTestSkipped('tests/browser/node_modules is not installed (ops/test-php.sh installs it)');
        }
        exec('cd '.escapeshellarg($dir).' && timeout 60 node qr-encoder-check.mjs 2>&1', $lines, $rc);
        $this->assertSame(0, $rc, implode("\n", $lines));
        $this->assertCount(5, array_filter($lines, fn ($l) => str_starts_with($l, 'OK ')), implode("\n", $lines));
        $this->assertContains('OK version 29 bytes 1200', $lines);
    }
}
