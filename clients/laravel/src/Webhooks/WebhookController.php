<?php

namespace WaSidecar\Laravel\Webhooks;

use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use WaSidecar\Laravel\Failover\ProviderSelector;

/** The webhook route's handler: the verified payload becomes its Laravel event (EventMap). */
class WebhookController
{
    public function __invoke(Request $request, Dispatcher $events, EventMap $map): JsonResponse
    {
        $payload = $request->attributes->get(VerifyWebhookSignature::PAYLOAD);
        if (! $payload instanceof WebhookPayload) {
            return new JsonResponse(['error' => ['code' => 'not_verified', 'message' => 'route used without its middleware']], 500);
        }
        $selector = config('wa-sidecar.failover.enabled') ? app(ProviderSelector::class) : null;
        if ($selector !== null && ! $this->failover($selector, $payload)) {
            return new JsonResponse(['status' => 'ok']);
        }
        $events->dispatch($map->make($payload));

        return new JsonResponse(['status' => 'ok']);
    }

    /**
     * What failover learns from the sidecar: the session's state, and each failover message's
     * status on the one monotonic stream. False when the event must not be announced (a status
     * that does not move its host message forward).
     */
    private function failover(ProviderSelector $selector, WebhookPayload $payload): bool
    {
        if ($payload->type === 'session.status' && is_string($payload->get('state'))) {
            $session = (string) (config("wa-sidecar.failover.workspaces.{$payload->workspace}.session") ?? config('wa-sidecar.failover.session', 'main'));
            if ($payload->session === $session) {
                $selector->noteWebState($payload->workspace, $payload->get('state'));
            }
        }
        $ref = $payload->get('client_ref');
        if ($payload->type === 'message.status' && is_string($ref) && ($selector->sent($ref)['provider'] ?? null) === 'web') {
            // A failure the web side cannot fix (it expired waiting for a session): the same
            // message goes by Cloud under the same host id, and the stream goes on from there.
            if ($payload->get('status') === 'failed' && $selector->webMessageFailed($ref, $payload->get('error')['code'] ?? null) !== null) {
                return false;
            }

            return $selector->advance($ref, (string) $payload->get('status'));
        }

        return true;
    }
}
