<?php

namespace WaSidecar\Laravel\Tests\Live;

use RuntimeException;

/**
 * Everything real, on loopback, for one test: wa-sim (WhatsApp and the phone), the built sidecar
 * against it, the test Laravel app under `php -S` with the package, and optionally sockudo (the
 * Pusher-protocol server). Each runs as an OwnedProcess in its own temp dir; stop() ends them all
 * and kills any browser left under the dir. Binaries come from WA_SIDECAR_BIN, WA_SIM_BIN,
 * WA_SOCKUDO_BIN (ops/test-php.sh sets them).
 */
final class LiveStack
{
    public const KEY_B64 = 'c2lkZWNhci10ZXN0LXNlY3JldC0zMi1ieXRlcy0hISE=';

    public const SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

    public const PUSHER = ['id' => '1001', 'key' => 'app-key', 'secret' => 'app-secret'];

    public string $dir;

    public string $simUrl = '';

    public string $sidecarUrl = '';

    public string $appUrl = '';

    public int $sockudoPort = 0;

    public string $eventsFile;

    /** @var array<string, OwnedProcess> */
    private array $procs = [];

    public function __construct()
    {
        $this->dir = sys_get_temp_dir().'/wa-live-'.bin2hex(random_bytes(4));
        mkdir($this->dir, 0700, true);
        $this->eventsFile = $this->dir.'/events.jsonl';
        touch($this->eventsFile);
    }

    public static function binary(string $env): ?string
    {
        $path = getenv($env);

        return $path !== false && $path !== '' && is_executable($path) ? $path : null;
    }

    public static function freePort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($server, false);
        fclose($server);

        return (int) substr($name, strrpos($name, ':') + 1);
    }

    public function startSim(): void
    {
        $port = self::freePort();
        // WhatsApp's QR schedule is too slow to wait out, the fast one too quick for a browser.
        $config = json_encode(['qr_first_ttl_ms' => 60000, 'qr_interval_ms' => 20000]);
        $this->procs['wa-sim'] = new OwnedProcess('wa-sim', [self::binary('WA_SIM_BIN'), 'serve', '--port', (string) $port, '--config', $config], [], $this->dir, $this->dir.'/wa-sim.log');
        $this->simUrl = "http://127.0.0.1:{$port}";
        $this->waitHttp($this->simUrl.'/_sim/state', 20);
    }

    /** @param array<string, string> $extraEnv e.g. SIDECAR__BROADCAST__… */
    public function startSidecar(string $extraToml = '', array $extraEnv = []): void
    {
        $port = self::freePort();
        file_put_contents($this->dir.'/host.key', self::KEY_B64);
        chmod($this->dir.'/host.key', 0600);
        $d = $this->dir;
        $toml = <<<TOML
[server]
bind = "127.0.0.1:{$port}"
data_dir = "{$d}/data"
sessions_dir = "{$d}/sessions"
workers = 1
shutdown_timeout_secs = 5

[[auth.keys]]
id = "host"
secret_file = "{$d}/host.key"
workspaces = ["*"]

[engine]
wa_web_url = "{$this->simUrl}/"
inject_bridge = false

[callbacks]
url = "{$this->appUrl}/webhooks/wa-sidecar"
retry_schedule = ["200ms", "500ms", "1s", "2s"]

{$extraToml}
TOML;
        file_put_contents($this->dir.'/sidecar.toml', $toml);
        $env = ['SIDECAR__CALLBACKS__SECRETS' => self::SECRET, 'RUST_LOG' => 'info'] + $extraEnv;
        foreach (array_keys(getenv()) as $name) {
            if (str_starts_with($name, 'SIDECAR') && ! isset($env[$name])) {
                $env[$name] = null;
            }
        }
        $this->procs['sidecar'] = new OwnedProcess('sidecar', [self::binary('WA_SIDECAR_BIN'), 'serve', '--config', $this->dir.'/sidecar.toml'], $env, $this->dir, $this->dir.'/sidecar.log', false, 20);
        $this->sidecarUrl = "http://127.0.0.1:{$port}";
        $this->waitHttp($this->sidecarUrl.'/health/live', 30);
    }

    /**
     * The test app (tests/app) under php -S. Its broadcaster is sockudo when that runs (channel
     * authorization needs it either way); $rebroadcast false turns the package's own QR and
     * status broadcasting off, as when the sidecar's [broadcast] publishes instead.
     */
    public function startApp(bool $rebroadcast = true, array $extraEnv = []): void
    {
        $port = self::freePort();
        $this->appUrl = "http://127.0.0.1:{$port}";
        $storage = $this->dir.'/storage';
        foreach (['framework/cache/data', 'framework/views', 'framework/sessions', 'logs'] as $sub) {
            @mkdir("{$storage}/{$sub}", 0700, true);
        }
        $env = [
            'WA_TEST_STORAGE' => $storage,
            'WA_TEST_EVENTS' => $this->eventsFile,
            'WA_SIDECAR_WEBHOOK_SECRETS' => self::SECRET,
            'CACHE_DRIVER' => 'file',
            'QUEUE_CONNECTION' => 'sync',
            'BROADCAST_DRIVER' => $this->sockudoPort > 0 ? 'pusher' : 'null',
            'WA_SIDECAR_BROADCAST' => $rebroadcast ? 'true' : 'false',
            'PUSHER_APP_ID' => self::PUSHER['id'],
            'PUSHER_APP_KEY' => self::PUSHER['key'],
            'PUSHER_APP_SECRET' => self::PUSHER['secret'],
            'PUSHER_PORT' => (string) $this->sockudoPort,
            'PHP_CLI_SERVER_WORKERS' => '4',
            'LOG_CHANNEL' => 'single',
        ] + $extraEnv;
        $app = dirname(__DIR__).'/app';
        $this->procs['laravel'] = new OwnedProcess('laravel', ['php', '-S', "127.0.0.1:{$port}", '-t', $app.'/public', $app.'/public/index.php'], $env, $app, $this->dir.'/laravel.log', false, 5);
        $this->waitHttp($this->appUrl.'/js/none', 20, [404]);
    }

    public function startSockudo(): void
    {
        $this->sockudoPort = self::freePort();
        $env = [
            'HOST' => '127.0.0.1', 'PORT' => (string) $this->sockudoPort, 'METRICS_ENABLED' => 'false',
            'SOCKUDO_DEFAULT_APP_ID' => self::PUSHER['id'], 'SOCKUDO_DEFAULT_APP_KEY' => self::PUSHER['key'],
            'SOCKUDO_DEFAULT_APP_SECRET' => self::PUSHER['secret'], 'SHUTDOWN_GRACE_PERIOD' => '0',
        ];
        $this->procs['sockudo'] = new OwnedProcess('sockudo', [self::binary('WA_SOCKUDO_BIN')], $env, $this->dir, $this->dir.'/sockudo.log', false, 12);
        $this->waitHttp("http://127.0.0.1:{$this->sockudoPort}/up/".self::PUSHER['id'], 30);
    }

    /** The sidecar's own [broadcast] section, publishing to sockudo with $secret. */
    public function sidecarBroadcastToml(): string
    {
        return "[broadcast]\nenabled = true\nurl = \"http://127.0.0.1:{$this->sockudoPort}\"\n"
            ."app_id = \"".self::PUSHER['id']."\"\nkey = \"".self::PUSHER['key']."\"\n"
            ."retries = 1\nretry_backoff = \"100ms\"\n";
    }

    /** The sidecar's /metrics text. */
    public function sidecarMetrics(): string
    {
        return (string) file_get_contents($this->sidecarUrl.'/metrics');
    }

    /** Stop one process (and reap it), keeping the others. */
    public function stopProcess(string $name): void
    {
        if (isset($this->procs[$name])) {
            $this->procs[$name]->stop();
            unset($this->procs[$name]);
        }
    }

    /** The directory php -S keeps its file cache in (share it to share the app's cache). */
    public function cacheDir(): string
    {
        return $this->dir.'/storage/framework/cache/data';
    }

    public function process(string $name): OwnedProcess
    {
        return $this->procs[$name];
    }

    public function own(OwnedProcess $proc): OwnedProcess
    {
        return $this->procs[$proc->name] = $proc;
    }

    /** @return list<array> the events the app dispatched so far */
    public function events(): array
    {
        $lines = array_filter(explode("\n", (string) file_get_contents($this->eventsFile)));

        return array_map(fn ($l) => json_decode($l, true), array_values($lines));
    }

    /** The first app event matching $match within $timeout s. */
    public function waitEvent(callable $match, float $timeout, string $what): array
    {
        $deadline = microtime(true) + $timeout;
        do {
            foreach ($this->events() as $event) {
                if ($match($event)) {
                    return $event;
                }
            }
            usleep(100000);
        } while (microtime(true) < $deadline);
        throw new RuntimeException("no {$what} within {$timeout} s; events: ".json_encode($this->events())."\nsidecar log tail: ".$this->tail('sidecar.log'));
    }

    public function sim(string $method, string $path, ?array $body = null): array
    {
        $ctx = stream_context_create(['http' => ['method' => $method, 'ignore_errors' => true, 'timeout' => 10,
            'header' => "Content-Type: application/json\r\n", 'content' => $body === null ? '' : json_encode($body)]]);
        $text = file_get_contents($this->simUrl.'/_sim'.$path, false, $ctx);

        return json_decode((string) $text, true) ?? ['raw' => $text];
    }

    public function tail(string $log, int $bytes = 3000): string
    {
        $text = (string) @file_get_contents($this->dir.'/'.$log);

        return substr($text, -$bytes);
    }

    private function waitHttp(string $url, float $timeout, array $okStatuses = [200]): void
    {
        $deadline = microtime(true) + $timeout;
        $ctx = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 2]]);
        do {
            $body = @file_get_contents($url, false, $ctx);
            if ($body !== false && isset($http_response_header[0]) && preg_match('/ (\d{3})/', $http_response_header[0], $m) && in_array((int) $m[1], $okStatuses, true)) {
                return;
            }
            usleep(100000);
        } while (microtime(true) < $deadline);
        throw new RuntimeException("{$url} did not answer within {$timeout} s");
    }

    public function stop(): void
    {
        // The browser side first, then what feeds it; the sidecar closes its own browsers.
        foreach (array_reverse($this->procs) as $proc) {
            $proc->stop();
        }
        $this->procs = [];
        self::killUnder($this->dir);
        if (getenv('WA_KEEP_LIVE') === false) {
            exec('rm -rf '.escapeshellarg($this->dir));
        }
    }

    /** Kills any process whose command line names $dir (a browser of a sidecar that died). */
    public static function killUnder(string $dir): int
    {
        $killed = 0;
        foreach (glob('/proc/[0-9]*/cmdline') ?: [] as $file) {
            $cmd = (string) @file_get_contents($file);
            if ($cmd !== '' && str_contains($cmd, $dir)) {
                @posix_kill((int) basename(dirname($file)), SIGKILL);
                $killed++;
            }
        }

        return $killed;
    }

    public function __destruct()
    {
        $this->stop();
    }
}
