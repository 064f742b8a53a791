<?php

namespace WaSidecar\Laravel\Webhooks;

use InvalidArgumentException;

/**
 * Standard Webhooks verification (standardwebhooks.com, docs/callbacks.md): HMAC-SHA256 keyed with
 * the base64-decoded part of each whsec_ secret over "{id}.{timestamp}.{raw body}", one or more
 * "v1,<base64>" entries separated by spaces, any match wins, compared in constant time, and the
 * timestamp within the tolerance either way. Pure: no request, no cache.
 */
final class WebhookVerifier
{
    /** @var list<string> decoded HMAC keys */
    private array $keys = [];

    /** @param string|list<string> $secrets whsec_ secrets (a list, or one string separated by spaces or commas) */
    public function __construct(string|array $secrets, private int $toleranceSecs = 300)
    {
        $list = is_array($secrets) ? $secrets : preg_split('/[\s,]+/', $secrets, -1, PREG_SPLIT_NO_EMPTY);
        foreach ($list as $secret) {
            $secret = trim($secret);
            if (! str_starts_with($secret, 'whsec_')) {
                throw new InvalidArgumentException('a wa-sidecar webhook secret must start with whsec_');
            }
            $key = base64_decode(substr($secret, 6), true);
            if ($key === false || strlen($key) < 24 || strlen($key) > 64) {
                throw new InvalidArgumentException('a wa-sidecar webhook secret must be whsec_ + base64 of 24-64 bytes');
            }
            $this->keys[] = $key;
        }
        if ($this->keys === []) {
            throw new InvalidArgumentException('no wa-sidecar webhook secret configured (wa-sidecar.webhooks.secrets)');
        }
    }

    /**
     * @throws WebhookVerificationException reason "timestamp" or "signature"
     */
    public function verify(string $id, string $timestamp, string $signatureHeader, string $body, ?int $now = null): void
    {
        $now ??= time();
        if (preg_match('/^[0-9]{1,12}$/', $timestamp) !== 1) {
            throw new WebhookVerificationException('timestamp', 'webhook-timestamp is not an integer');
        }
        if (abs($now - (int) $timestamp) > $this->toleranceSecs) {
            throw new WebhookVerificationException('timestamp', 'webhook-timestamp is outside the tolerance');
        }
        $signed = $id.'.'.$timestamp.'.'.$body;
        $candidates = [];
        foreach (explode(' ', $signatureHeader) as $entry) {
            $parts = explode(',', $entry, 2);
            if (count($parts) === 2 && $parts[0] === 'v1') {
                $candidates[] = $parts[1];
            }
        }
        $ok = false;
        foreach ($this->keys as $key) {
            $expected = base64_encode(hash_hmac('sha256', $signed, $key, true));
            foreach ($candidates as $candidate) {
                // No early exit: every pair is compared.
                $ok = hash_equals($expected, $candidate) || $ok;
            }
        }
        if (! $ok) {
            throw new WebhookVerificationException('signature', 'no webhook-signature entry matches');
        }
    }
}
