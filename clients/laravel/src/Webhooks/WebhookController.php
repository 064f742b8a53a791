<?php

namespace WaSidecar\Laravel\Webhooks;

use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;

/** The webhook route's handler: the verified payload becomes its Laravel event (EventMap). */
class WebhookController
{
    public function __invoke(Request $request, Dispatcher $events, EventMap $map): JsonResponse
    {
        $payload = $request->attributes->get(VerifyWebhookSignature::PAYLOAD);
        if (! $payload instanceof WebhookPayload) {
            return new JsonResponse(['error' => ['code' => 'not_verified', 'message' => 'route used without its middleware']], 500);
        }
        $events->dispatch($map->make($payload));

        return new JsonResponse(['status' => 'ok']);
    }
}
