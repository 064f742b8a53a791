<?php

namespace WaSidecar\Laravel\Events;

use Illuminate\Broadcasting\PrivateChannel;

/**
 * Broadcasting of the QR and status events: on the workspace's private channel (config
 * wa-sidecar.broadcast.channel, default "workspace.{workspace}"), under the callback's own type as
 * event name (Echo: .listen('.session.qr')), only when wa-sidecar.broadcast.enabled.
 */
trait BroadcastsToWorkspace
{
    public function broadcastOn(): PrivateChannel
    {
        return new PrivateChannel(self::channelName($this->payload->workspace));
    }

    public static function channelName(string $workspace): string
    {
        $pattern = (string) config('wa-sidecar.broadcast.channel', 'workspace.{workspace}');

        return str_replace('{workspace}', $workspace, $pattern);
    }

    public function broadcastAs(): string
    {
        return $this->payload->type;
    }

    public function broadcastWhen(): bool
    {
        return (bool) config('wa-sidecar.broadcast.enabled', true);
    }

    public function broadcastQueue(): ?string
    {
        return config('wa-sidecar.broadcast.queue');
    }
}
