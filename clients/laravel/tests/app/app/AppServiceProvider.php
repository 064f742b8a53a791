<?php

namespace WaSidecarTestApp;

use Illuminate\Auth\GenericUser;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Auth;
use Illuminate\Support\Facades\Broadcast;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\Facades\Route;
use Illuminate\Support\ServiceProvider;
use WaSidecar\Laravel\Broadcasting\WorkspaceChannel;

/**
 * The test app's own wiring, as a host app would write it: fixed users (a bearer token names
 * one, each admin of one workspace), the channel rule, the routes, and a listener that appends
 * every wa-sidecar event to a JSON-lines file the tests read (WA_TEST_EVENTS).
 */
class AppServiceProvider extends ServiceProvider
{
    public const USERS = [
        'alice-token' => ['id' => 1, 'name' => 'Alice', 'workspace' => 'acme'],
        'bob-token' => ['id' => 2, 'name' => 'Bob', 'workspace' => 'globex'],
    ];

    public function boot(): void
    {
        // Failover settings for a live test (JSON in WA_TEST_FAILOVER), as a host's config would set them.
        if ($failover = env('WA_TEST_FAILOVER')) {
            config()->set('wa-sidecar.failover', array_replace_recursive((array) config('wa-sidecar.failover'), json_decode($failover, true)));
        }

        Auth::viaRequest('wa-test-token', function (Request $request) {
            $user = self::USERS[$request->bearerToken() ?? ''] ?? null;

            return $user === null ? null : new GenericUser($user);
        });

        Broadcast::routes(['middleware' => [\Illuminate\Auth\Middleware\Authenticate::class.':token']]);
        WorkspaceChannel::authorizeUsing(fn ($user, string $workspace) => $user->workspace === $workspace);

        Event::listen('WaSidecar\Laravel\Events\*', function (string $name, array $args) {
            $file = env('WA_TEST_EVENTS');
            if (! $file) {
                return;
            }
            $event = $args[0];
            $line = json_encode(isset($event->payload) ? [
                'class' => $name, 'id' => $event->payload->id, 'type' => $event->payload->type,
                'workspace' => $event->payload->workspace, 'session' => $event->payload->session,
                'data' => $event->payload->data,
            ] : ['class' => $name, 'type' => class_basename($name), 'data' => get_object_vars($event)], JSON_UNESCAPED_SLASHES);
            file_put_contents($file, $line."\n", FILE_APPEND | LOCK_EX);
        });

        Route::group([], base_path('routes/web.php'));
    }
}
