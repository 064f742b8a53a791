<?php

namespace WaSidecar\Laravel\Failover;

use Closure;
use Illuminate\Http\Client\ConnectionException as HttpConnectionException;
use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\Response;

/**
 * Meta's WhatsApp Cloud API as a provider: `POST {graph_url}/{version}/{phone_number_id}/messages`
 * with the workspace's Bearer token, through Laravel's HTTP client (Http::fake sees it). The host
 * id travels as `biz_opaque_callback_data` and comes back in every status webhook. No retries
 * here: the selector decides what happens after an error.
 */
class CloudProvider implements Provider
{
    /** Fields only the web side knows; the Cloud API would refuse them. */
    private const WEB_ONLY = ['client_ref', 'mentions', 'priority', 'on_limit'];

    /**
     * @param  Closure(): Factory  $http
     * @param  Closure(string): array  $config  the workspace's Cloud settings: phone_number_id, token, graph_url, version, timeout
     */
    public function __construct(private Closure $http, private Closure $config)
    {
    }

    public function name(): string
    {
        return 'cloud';
    }

    public function configured(string $workspace): bool
    {
        $c = ($this->config)($workspace);

        return ($c['phone_number_id'] ?? '') !== '' && ($c['token'] ?? '') !== '';
    }

    public function send(string $workspace, array $message, string $hostId): SendResult
    {
        $c = ($this->config)($workspace);
        if (! $this->configured($workspace)) {
            throw new ProviderUnavailable("no Cloud API number configured for workspace {$workspace}", 'cloud', 'NOT_CONFIGURED');
        }
        if (($message['type'] ?? 'text') === 'poll') {
            throw new MessageRejected('the Cloud API has no polls', 'cloud', 'UNSUPPORTED_TYPE');
        }
        $message = $this->uploadInline($c, $message);
        $body = array_diff_key($message, array_flip(self::WEB_ONLY));
        $body = ['messaging_product' => 'whatsapp', 'recipient_type' => 'individual'] + $body;
        $body['to'] = self::digits((string) ($message['to'] ?? ''));
        // A reply can only quote what this Cloud number sent or received (a wamid); a web
        // message id means nothing to Meta, so the message goes without the quote.
        if (isset($body['context']['message_id']) && ! str_starts_with((string) $body['context']['message_id'], 'wamid.')) {
            unset($body['context']);
        }
        $body['biz_opaque_callback_data'] = $hostId;
        $url = rtrim((string) ($c['graph_url'] ?? 'https://graph.facebook.com'), '/').'/'.($c['version'] ?? 'v21.0').'/'.rawurlencode((string) $c['phone_number_id']).'/messages';
        try {
            $response = ($this->http)()
                ->withToken((string) $c['token'])
                ->acceptJson()
                ->timeout((int) ($c['timeout'] ?? 10))
                ->withOptions(['connect_timeout' => (int) ($c['connect_timeout'] ?? 5)])
                ->withBody(json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR), 'application/json')
                ->post($url);
        } catch (HttpConnectionException $e) {
            throw new ProviderUnavailable('Cloud API unreachable: '.$e->getMessage(), 'cloud', 'CONNECTION_FAILED', $e);
        }
        $json = $response->json();
        if ($response->successful()) {
            $id = $json['messages'][0]['id'] ?? null;
            if (! is_string($id)) {
                throw new ProviderUnavailable('Cloud API answered without a message id', 'cloud', 'BAD_ANSWER');
            }

            return new SendResult($hostId, 'cloud', $id, is_array($json) ? $json : []);
        }
        throw $this->failure($response);
    }

    /**
     * Media given inline (`data`: base64 or a data: URL, with `mime_type`), as the sidecar takes
     * it, is uploaded to the number first (`POST …/media`) and sent by its id.
     */
    private function uploadInline(array $c, array $message): array
    {
        $type = (string) ($message['type'] ?? '');
        $media = $message[$type] ?? null;
        if (! in_array($type, ['image', 'video', 'audio', 'document', 'sticker'], true) || ! is_array($media) || ! isset($media['data']) || isset($media['link']) || isset($media['id'])) {
            return $message;
        }
        $data = (string) $media['data'];
        $mime = (string) ($media['mime_type'] ?? '');
        if (preg_match('/^data:([^;,]+)?(;base64)?,/', $data, $m)) {
            $mime = $mime !== '' ? $mime : ($m[1] ?? '');
            $data = substr($data, strlen($m[0]));
        }
        $bytes = base64_decode($data, true);
        if ($bytes === false || $bytes === '') {
            throw new MessageRejected("{$type}.data is not base64", 'cloud', 'INVALID_MEDIA');
        }
        $mime = $mime !== '' ? $mime : 'application/octet-stream';
        $url = rtrim((string) ($c['graph_url'] ?? 'https://graph.facebook.com'), '/').'/'.($c['version'] ?? 'v21.0').'/'.rawurlencode((string) $c['phone_number_id']).'/media';
        try {
            $response = ($this->http)()
                ->withToken((string) $c['token'])
                ->acceptJson()
                ->timeout((int) ($c['timeout'] ?? 10))
                ->attach('file', $bytes, (string) ($media['filename'] ?? $type), ['Content-Type' => $mime])
                ->post($url, ['messaging_product' => 'whatsapp', 'type' => $mime]);
        } catch (HttpConnectionException $e) {
            throw new ProviderUnavailable('Cloud API unreachable: '.$e->getMessage(), 'cloud', 'CONNECTION_FAILED', $e);
        }
        $id = $response->json('id');
        if (! $response->successful() || ! is_string($id)) {
            throw $this->failure($response);
        }
        unset($media['data'], $media['mime_type']);
        $message[$type] = ['id' => $id] + $media;

        return $message;
    }

    /** The Graph API's error answer as the exception the selector acts on. */
    private function failure(Response $response): FailoverException
    {
        $json = $response->json();
        $error = is_array($json['error'] ?? null) ? $json['error'] : [];
        $code = (int) ($error['code'] ?? 0);
        $text = 'Cloud API '.$response->status().' '.$code.': '.($error['message'] ?? trim(substr($response->body(), 0, 200)))
            .(isset($error['error_data']['details']) ? ' ('.$error['error_data']['details'].')' : '');

        return match (true) {
            $code === 190 || $code === 0 && $response->status() === 401 => new CloudTokenInvalid($text, 'cloud', 190),
            $code === 131047 => new WindowClosed($text, 'cloud', $code),
            // Throughput and app limits, temporary service errors: not now, maybe later.
            in_array($code, [4, 80007, 130429, 131056, 131000, 131016, 1, 2], true) || $response->serverError() => new ProviderUnavailable($text, 'cloud', $code),
            // Account locked or spam-limited: stop sending by Cloud, like a bad token.
            in_array($code, [131031, 368, 131048], true) => new CloudTokenInvalid($text, 'cloud', $code),
            default => new MessageRejected($text, 'cloud', $code),
        };
    }

    private static function digits(string $to): string
    {
        $to = preg_replace('/@c\.us$/', '', trim($to)) ?? $to;

        return ltrim($to, '+');
    }
}
