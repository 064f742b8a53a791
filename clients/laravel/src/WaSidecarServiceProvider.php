<?php

namespace WaSidecar\Laravel;

use Illuminate\Foundation\Http\Middleware\VerifyCsrfToken;
use Illuminate\Http\Client\Factory;
use Illuminate\Support\Facades\Http;
use Illuminate\Support\Facades\Route;
use Illuminate\Support\ServiceProvider;
use WaSidecar\Laravel\Signing\RequestSigner;
use WaSidecar\Laravel\Webhooks\EventMap;
use WaSidecar\Laravel\Webhooks\VerifyWebhookSignature;
use WaSidecar\Laravel\Webhooks\WebhookController;

/**
 * Wires the package into the app (auto-discovered): config, the Client singleton behind the
 * WaSidecar facade, the event map, and the Route::waSidecarWebhooks() macro.
 */
class WaSidecarServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        $this->mergeConfigFrom(__DIR__.'/../config/wa-sidecar.php', 'wa-sidecar');

        $this->app->singleton(Client::class, function ($app) {
            $config = $app['config']->get('wa-sidecar');

            return new Client(
                // The facade's instance: the one Http::fake() replaces.
                fn (): Factory => Http::getFacadeRoot(),
                new RequestSigner($config['key_id'] ?? null, (string) ($config['key'] ?? '')),
                $config,
            );
        });
        $this->app->singleton(EventMap::class, fn ($app) => new EventMap((array) $app['config']->get('wa-sidecar.webhooks.events', [])));
    }

    public function boot(): void
    {
        if ($this->app->runningInConsole()) {
            $this->publishes([__DIR__.'/../config/wa-sidecar.php' => $this->app->configPath('wa-sidecar.php')], 'wa-sidecar-config');
            $this->publishes([__DIR__.'/../resources/js' => $this->app->publicPath('vendor/wa-sidecar')], 'wa-sidecar-assets');
        }

        Route::macro('waSidecarWebhooks', function (string $uri = '/webhooks/wa-sidecar') {
            return Route::post($uri, WebhookController::class)
                ->middleware(VerifyWebhookSignature::class)
                // Signed by the sidecar, not by a browser session: no CSRF token.
                ->withoutMiddleware(VerifyCsrfToken::class)
                ->name('wa-sidecar.webhooks');
        });
    }
}
