<?php

namespace WaSidecar\Laravel\Signing;

use InvalidArgumentException;
use Psr\Http\Message\RequestInterface;

/**
 * The v1 request signature of wa-sidecar (README.md, "Signing requests"): HMAC-SHA256, keyed with
 * the raw key bytes, over seven lines (v1, timestamp, nonce, METHOD, path, canonical query,
 * sha256 of the body). Owns nothing else: no HTTP, no configuration.
 */
final class RequestSigner
{
    private string $key;

    /** @param string $keyB64 the key, standard base64 (at least 32 bytes once decoded) */
    public function __construct(private ?string $keyId, string $keyB64)
    {
        $key = base64_decode($keyB64, true);
        if ($key === false || strlen($key) < 32) {
            throw new InvalidArgumentException('wa-sidecar key must be base64 of at least 32 bytes');
        }
        $this->key = $key;
    }

    /** The canonical query: pairs decoded (+ and %20 are spaces), RFC 3986-encoded, sorted, joined by &. */
    public static function canonicalQuery(string $rawQuery): string
    {
        $pairs = [];
        foreach (explode('&', $rawQuery) as $segment) {
            if ($segment === '') {
                continue;
            }
            $at = strpos($segment, '=');
            $key = $at === false ? $segment : substr($segment, 0, $at);
            $value = $at === false ? '' : substr($segment, $at + 1);
            $pairs[] = [rawurlencode(urldecode($key)), rawurlencode(urldecode($value))];
        }
        usort($pairs, fn (array $a, array $b) => strcmp($a[0], $b[0]) ?: strcmp($a[1], $b[1]));

        return implode('&', array_map(fn (array $p) => $p[0].'='.$p[1], $pairs));
    }

    public static function canonicalString(int $timestamp, string $nonce, string $method, string $path, string $rawQuery, string $body): string
    {
        return implode("\n", [
            'v1', (string) $timestamp, $nonce, strtoupper($method), $path,
            self::canonicalQuery($rawQuery), hash('sha256', $body),
        ]);
    }

    /** `v1=<lowercase hex>` for one request. */
    public function signature(int $timestamp, string $nonce, string $method, string $path, string $rawQuery, string $body): string
    {
        $canonical = self::canonicalString($timestamp, $nonce, $method, $path, $rawQuery, $body);

        return 'v1='.hash_hmac('sha256', $canonical, $this->key);
    }

    /**
     * The four signature headers for one request.
     *
     * @return array<string, string>
     */
    public function headers(string $method, string $path, string $rawQuery, string $body, ?int $timestamp = null, ?string $nonce = null): array
    {
        $timestamp ??= time();
        $nonce ??= bin2hex(random_bytes(16));
        $headers = [
            'X-Timestamp' => (string) $timestamp,
            'X-Nonce' => $nonce,
            'X-HMAC-Signature' => $this->signature($timestamp, $nonce, $method, $path, $rawQuery, $body),
        ];
        if ($this->keyId !== null && $this->keyId !== '') {
            $headers = ['X-Key-Id' => $this->keyId] + $headers;
        }

        return $headers;
    }

    /** The request as it will go on the wire, with fresh signature headers over its exact bytes. */
    public function signPsr(RequestInterface $request, ?int $timestamp = null, ?string $nonce = null): RequestInterface
    {
        $body = $request->getBody();
        if ($body->isSeekable()) {
            $body->rewind();
        }
        $bytes = $body->getContents();
        if ($body->isSeekable()) {
            $body->rewind();
        }
        $uri = $request->getUri();
        foreach ($this->headers($request->getMethod(), $uri->getPath() === '' ? '/' : $uri->getPath(), $uri->getQuery(), $bytes, $timestamp, $nonce) as $name => $value) {
            $request = $request->withHeader($name, $value);
        }

        return $request;
    }
}
