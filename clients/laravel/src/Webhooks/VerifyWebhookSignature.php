<?php

namespace WaSidecar\Laravel\Webhooks;

use Closure;
use Illuminate\Contracts\Cache\Factory as CacheFactory;
use Illuminate\Contracts\Config\Repository as Config;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Support\Carbon;
use Psr\Log\LoggerInterface;
use Symfony\Component\HttpFoundation\Response;
use Throwable;

/**
 * Middleware of the webhook route: refuses what is too large (413), lacks a webhook-* header
 * (400), is not signed by a configured secret or is outside the timestamp tolerance (401), or is
 * not a JSON object (400); answers a webhook-id already handled with 200 and no event (a
 * replay, or the sidecar retrying an event whose 2xx it never saw). Only then does the request
 * reach the controller, with the payload in the request attribute "wa_sidecar_payload".
 */
class VerifyWebhookSignature
{
    public const PAYLOAD = 'wa_sidecar_payload';

    public function __construct(private Config $config, private CacheFactory $cache, private LoggerInterface $log)
    {
    }

    public function handle(Request $request, Closure $next): Response
    {
        $cfg = (array) $this->config->get('wa-sidecar.webhooks', []);
        $max = (int) ($cfg['max_bytes'] ?? 262144);
        if ((int) $request->headers->get('Content-Length', '0') > $max || strlen($request->getContent()) > $max) {
            return $this->refuse(413, 'payload_too_large', 'the body is larger than '.$max.' bytes');
        }
        $id = (string) $request->headers->get('webhook-id', '');
        $timestamp = (string) $request->headers->get('webhook-timestamp', '');
        $signature = (string) $request->headers->get('webhook-signature', '');
        if ($id === '' || $timestamp === '' || $signature === '') {
            return $this->refuse(400, 'missing_header', 'webhook-id, webhook-timestamp and webhook-signature are required');
        }
        $body = $request->getContent();
        try {
            (new WebhookVerifier($cfg['secrets'] ?? '', (int) ($cfg['tolerance'] ?? 300)))->verify($id, $timestamp, $signature, $body, Carbon::now()->getTimestamp());
        } catch (WebhookVerificationException $e) {
            $this->log->warning('wa-sidecar webhook refused', ['reason' => $e->reason, 'webhook_id' => substr($id, 0, 80)]);

            return $this->refuse(401, 'invalid_'.$e->reason, $e->getMessage());
        }
        $decoded = json_decode($body, true);
        if (! is_array($decoded) || ($decoded !== [] && array_is_list($decoded))) {
            return $this->refuse(400, 'invalid_json', 'the body is not a JSON object');
        }

        $store = $this->cache->store($cfg['cache_store'] ?? null);
        $seenKey = 'wa-sidecar:webhook:'.hash('sha256', $id);
        if (! $store->add($seenKey, time(), (int) ($cfg['replay_ttl'] ?? 345600))) {
            return new JsonResponse(['status' => 'duplicate'], 200, ['X-Wa-Sidecar-Duplicate' => '1']);
        }
        $request->attributes->set(self::PAYLOAD, WebhookPayload::fromArray($id, $decoded));
        try {
            $response = $next($request);
        } catch (Throwable $e) {
            $store->forget($seenKey);
            throw $e;
        }
        if ($response->getStatusCode() >= 300) {
            // Not handled: let the sidecar's retry through.
            $store->forget($seenKey);
        }

        return $response;
    }

    private function refuse(int $status, string $code, string $message): JsonResponse
    {
        return new JsonResponse(['error' => ['code' => $code, 'message' => $message]], $status);
    }
}
