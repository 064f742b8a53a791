<?php

namespace WaSidecar\Laravel\Failover;

use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;
use WaSidecar\Laravel\Events\MessageReceived;
use WaSidecar\Laravel\Events\MessageStatusChanged;
use WaSidecar\Laravel\Webhooks\WebhookPayload;

/**
 * The Cloud API's webhooks (Route::waSidecarCloudWebhooks()). GET answers Meta's subscription
 * check (hub.verify_token). POST is verified by X-Hub-Signature-256 over the raw body (403
 * otherwise), then: statuses become MessageStatusChanged on the one monotonic stream (the host id
 * from biz_opaque_callback_data), the phones' messages become MessageReceived and open the
 * 24-hour window. Events look like the sidecar's, with session "cloud" and data.provider "cloud".
 */
class CloudWebhookController
{
    private const STATUSES = ['sent', 'delivered', 'read', 'played', 'failed'];

    public function verify(Request $request): Response
    {
        $token = (string) config('wa-sidecar.failover.verify_token', '');
        // PHP turns the dots of hub.mode into underscores.
        $mode = $request->query('hub_mode', $request->query('hub.mode'));
        $given = (string) $request->query('hub_verify_token', $request->query('hub.verify_token', ''));
        if ($mode === 'subscribe' && $token !== '' && hash_equals($token, $given)) {
            return new Response((string) $request->query('hub_challenge', $request->query('hub.challenge', '')), 200, ['Content-Type' => 'text/plain']);
        }

        return new Response('forbidden', 403);
    }

    public function __invoke(Request $request, Dispatcher $events, ProviderSelector $selector): JsonResponse
    {
        $raw = $request->getContent();
        if (! self::signed($raw, (string) $request->header('X-Hub-Signature-256', ''), $this->secrets())) {
            return new JsonResponse(['error' => ['code' => 'bad_signature', 'message' => 'X-Hub-Signature-256 does not match']], 403);
        }
        $body = json_decode($raw, true);
        foreach ((array) ($body['entry'] ?? []) as $entry) {
            foreach ((array) ($entry['changes'] ?? []) as $change) {
                $value = (array) ($change['value'] ?? []);
                $workspace = $this->workspaceOf((string) ($value['metadata']['phone_number_id'] ?? ''));
                if ($workspace === null) {
                    continue;
                }
                foreach ((array) ($value['statuses'] ?? []) as $st) {
                    $this->status($events, $selector, $workspace, (array) $st);
                }
                $names = [];
                foreach ((array) ($value['contacts'] ?? []) as $c) {
                    $names[(string) ($c['wa_id'] ?? '')] = $c['profile']['name'] ?? null;
                }
                foreach ((array) ($value['messages'] ?? []) as $m) {
                    $this->message($events, $selector, $workspace, (array) $m, $names);
                }
            }
        }

        return new JsonResponse(['status' => 'ok']);
    }

    /** hex HMAC-SHA256 of the raw bytes with any configured app secret. */
    public static function signed(string $raw, string $header, array $secrets): bool
    {
        if (! str_starts_with($header, 'sha256=')) {
            return false;
        }
        $given = substr($header, 7);
        foreach ($secrets as $secret) {
            if ($secret !== '' && hash_equals(hash_hmac('sha256', $raw, $secret), $given)) {
                return true;
            }
        }

        return false;
    }

    private function secrets(): array
    {
        $out = [(string) config('wa-sidecar.failover.app_secret', '')];
        foreach ((array) config('wa-sidecar.failover.workspaces', []) as $ws) {
            $out[] = (string) ($ws['app_secret'] ?? '');
        }

        return array_values(array_unique(array_filter($out)));
    }

    private function workspaceOf(string $pnid): ?string
    {
        foreach ((array) config('wa-sidecar.failover.workspaces', []) as $name => $ws) {
            if ((string) ($ws['phone_number_id'] ?? '') === $pnid && $pnid !== '') {
                return (string) $name;
            }
        }

        return null;
    }

    private function status(Dispatcher $events, ProviderSelector $selector, string $workspace, array $st): void
    {
        $id = (string) ($st['id'] ?? '');
        $status = (string) ($st['status'] ?? '');
        if ($id === '' || ! in_array($status, self::STATUSES, true)) {
            return;
        }
        if (! $selector->firstSight("cloud:{$id}:{$status}")) {
            return;
        }
        $hostId = is_string($st['biz_opaque_callback_data'] ?? null) ? $st['biz_opaque_callback_data'] : $selector->hostIdFor('cloud', $id);
        if (! $selector->advance($hostId ?? 'cloud:'.$id, $status)) {
            return;
        }
        $data = ['id' => $id, 'wa_id' => $id, 'status' => $status, 'client_ref' => $hostId, 'host_id' => $hostId,
            'provider' => 'cloud', 'to' => $st['recipient_id'] ?? null, 'timestamp' => isset($st['timestamp']) ? (int) $st['timestamp'] : null];
        if ($status === 'failed') {
            $err = (array) ($st['errors'][0] ?? []);
            $data['error'] = ['code' => (string) ($err['code'] ?? 'whatsapp_error'), 'message' => (string) ($err['message'] ?? $err['title'] ?? '')];
        }
        $events->dispatch(new MessageStatusChanged(new WebhookPayload("cloud:{$id}:{$status}", 'message.status', $workspace, 'cloud', null, $data)));
    }

    private function message(Dispatcher $events, ProviderSelector $selector, string $workspace, array $m, array $names): void
    {
        $from = (string) ($m['from'] ?? '');
        $id = (string) ($m['id'] ?? '');
        if ($from === '' || $id === '') {
            return;
        }
        $selector->noteCloudInbound($workspace, $from);
        if (! $selector->firstSight("cloud:{$id}")) {
            return;
        }
        $type = (string) ($m['type'] ?? 'unsupported');
        $data = ['id' => $id, 'wa_id' => $id, 'provider' => 'cloud', 'source' => 'live',
            'chat' => ['id' => $from.'@c.us', 'type' => 'user'],
            'from' => ['id' => $from.'@c.us', 'lid' => null, 'pn' => $from, 'push_name' => $names[$from] ?? null],
            'type' => $type, 'timestamp' => isset($m['timestamp']) ? (int) $m['timestamp'] : null];
        if ($type === 'text') {
            $data['text'] = $m['text']['body'] ?? null;
        } elseif (in_array($type, ['image', 'video', 'audio', 'document', 'sticker'], true)) {
            $media = (array) ($m[$type] ?? []);
            $data['caption'] = $media['caption'] ?? null;
            $data['media'] = ['id' => $media['id'] ?? null, 'mime_type' => $media['mime_type'] ?? null, 'sha256' => $media['sha256'] ?? null, 'filename' => $media['filename'] ?? null];
        } elseif ($type === 'location') {
            $data['location'] = $m['location'] ?? null;
        } elseif ($type === 'reaction') {
            $data['reaction'] = $m['reaction'] ?? null;
        }
        if (isset($m['context']['id'])) {
            $data['context'] = ['message_id' => $m['context']['id']];
        }
        $events->dispatch(new MessageReceived(new WebhookPayload("cloud:{$id}", 'message.received', $workspace, 'cloud', null, $data)));
    }
}
