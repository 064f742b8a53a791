<?php

namespace WaSidecar\Laravel\Tests\Live;

use RuntimeException;

/**
 * A child process the tests own: started with setsid (its own session and process group, so
 * whatever it forks is found again), its output in a log file or read line by line, and on
 * stop() or destruction SIGTERM to the whole group, a bounded wait, SIGKILL, reaped.
 */
final class OwnedProcess
{
    /** @var resource */
    private $proc;

    private int $pgid;

    /** @var resource|null stdout when piped */
    private $stdout = null;

    private string $buffer = '';

    private bool $stopped = false;

    /**
     * @param list<string> $argv
     * @param array<string, ?string> $env added to the current environment (null: removed from it)
     */
    public function __construct(public readonly string $name, array $argv, array $env = [], ?string $cwd = null, public readonly ?string $logFile = null, bool $pipeStdout = false, private float $termGraceSecs = 10.0)
    {
        $spec = [0 => ['file', '/dev/null', 'r']];
        $log = $logFile ?? '/dev/null';
        $spec[1] = $pipeStdout ? ['pipe', 'w'] : ['file', $log, 'a'];
        $spec[2] = ['file', $log, 'a'];
        $env = array_filter(array_merge(getenv(), $env), fn ($v) => $v !== null);
        $proc = proc_open(['setsid', ...$argv], $spec, $pipes, $cwd, $env);
        if (! is_resource($proc)) {
            throw new RuntimeException("cannot start {$name}");
        }
        $this->proc = $proc;
        // setsid execs the command in place: its pid is the new group's id.
        $this->pgid = proc_get_status($proc)['pid'];
        if ($pipeStdout) {
            $this->stdout = $pipes[1];
            stream_set_blocking($this->stdout, false);
        }
    }

    public function running(): bool
    {
        return ! $this->stopped && proc_get_status($this->proc)['running'];
    }

    /** The next stdout line that starts with $prefix (the rest of it), within $timeout seconds. */
    public function waitLine(string $prefix, float $timeout): string
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            while (($at = strpos($this->buffer, "\n")) !== false) {
                $line = substr($this->buffer, 0, $at);
                $this->buffer = substr($this->buffer, $at + 1);
                if (str_starts_with($line, $prefix)) {
                    return substr($line, strlen($prefix));
                }
                if (str_starts_with($line, 'FAIL')) {
                    throw new RuntimeException("{$this->name}: {$line}");
                }
            }
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new RuntimeException("{$this->name}: no line starting with {$prefix} within {$timeout} s");
            }
            $read = [$this->stdout];
            $none = null;
            if (@stream_select($read, $none, $none, 0, (int) min(200000, $left * 1e6)) > 0) {
                $chunk = fread($this->stdout, 65536);
                if ($chunk === '' || $chunk === false) {
                    if (feof($this->stdout)) {
                        throw new RuntimeException("{$this->name} ended before printing {$prefix}");
                    }
                } else {
                    $this->buffer .= $chunk;
                }
            }
        }
    }

    /** Waits up to $timeout s for the process to end by itself; its exit code, or null. */
    public function waitExit(float $timeout): ?int
    {
        $deadline = microtime(true) + $timeout;
        do {
            $status = proc_get_status($this->proc);
            if (! $status['running']) {
                $this->stopped = true;
                $this->killGroup(SIGKILL);
                proc_close($this->proc);

                return $status['exitcode'];
            }
            usleep(50000);
        } while (microtime(true) < $deadline);

        return null;
    }

    public function stop(): void
    {
        if ($this->stopped) {
            return;
        }
        $this->stopped = true;
        $this->killGroup(SIGTERM);
        $deadline = microtime(true) + $this->termGraceSecs;
        while (proc_get_status($this->proc)['running'] && microtime(true) < $deadline) {
            usleep(50000);
        }
        // Whatever is left of the group (workers, browsers, helpers) goes now.
        $this->killGroup(SIGKILL);
        if ($this->stdout !== null) {
            fclose($this->stdout);
        }
        proc_close($this->proc);
        $deadline = microtime(true) + 5;
        while ($this->groupAlive() && microtime(true) < $deadline) {
            usleep(50000);
        }
    }

    public function groupAlive(): bool
    {
        return @posix_kill(-$this->pgid, 0);
    }

    private function killGroup(int $signal): void
    {
        @posix_kill(-$this->pgid, $signal);
    }

    public function __destruct()
    {
        $this->stop();
    }
}
