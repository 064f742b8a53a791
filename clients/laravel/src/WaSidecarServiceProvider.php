<?php

namespace WaSidecar\Laravel;

use Illuminate\Foundation\Http\Middleware\VerifyCsrfToken;
use Illuminate\Http\Client\Factory;
use Illuminate\Support\Facades\Http;
use Illuminate\Support\Facades\Route;
use Illuminate\Support\ServiceProvider;
use WaSidecar\Laravel\Failover\CloudProvider;
use WaSidecar\Laravel\Failover\CloudWebhookController;
use WaSidecar\Laravel\Failover\ProviderSelector;
use WaSidecar\Laravel\Failover\WebProvider;
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
        $this->app->singleton(ProviderSelector::class, function ($app) {
            $config = $app['config']->get('wa-sidecar');
            $failover = (array) ($config['failover'] ?? []);
            // Web sends for failover: a short timeout and one retry, so a dead session is noticed
            // fast. Made on first use: an app that only receives webhooks needs no signing key.
            $client = fn (): Client => new Client(
                fn (): Factory => Http::getFacadeRoot(),
                new RequestSigner($config['key_id'] ?? null, (string) ($config['key'] ?? '')),
                ['timeout' => (int) ($failover['web_timeout'] ?? 10), 'connect_timeout' => (int) ($failover['web_connect_timeout'] ?? 3),
                    'retry' => ['times' => 1, 'sleep_ms' => 200, 'max_sleep_ms' => 1000]] + $config,
            );
            $ws = fn (string $w): array => (array) ($failover['workspaces'][$w] ?? []);

            return new ProviderSelector(
                new WebProvider($client, fn (string $w): string => (string) ($ws($w)['session'] ?? $failover['session'] ?? 'main')),
                new CloudProvider(fn (): Factory => Http::getFacadeRoot(), fn (string $w): array => $ws($w) + [
                    'graph_url' => $failover['graph_url'] ?? null, 'version' => $failover['graph_version'] ?? 'v21.0',
                    'timeout' => $failover['cloud_timeout'] ?? 10,
                ]),
                $app['cache']->store($failover['cache_store'] ?? null),
                $app['events'],
                $failover,
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

        // The Cloud API's webhook (failover): GET for Meta's subscription check, POST verified by
        // X-Hub-Signature-256 inside the controller.
        Route::macro('waSidecarCloudWebhooks', function (string $uri = '/webhooks/whatsapp-cloud') {
            Route::get($uri, [CloudWebhookController::class, 'verify'])->name('wa-sidecar.cloud-webhooks.verify');

            return Route::post($uri, CloudWebhookController::class)
                ->withoutMiddleware(VerifyCsrfToken::class)
                ->name('wa-sidecar.cloud-webhooks');
        });
    }
}
