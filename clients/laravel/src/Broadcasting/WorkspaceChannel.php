<?php

namespace WaSidecar\Laravel\Broadcasting;

use Illuminate\Support\Facades\Broadcast;
use WaSidecar\Laravel\Events\SessionQrUpdated;

/**
 * The private channel QR and status events go out on (config wa-sidecar.broadcast.channel,
 * default "workspace.{workspace}") and the hook for the app's rule of who may listen.
 */
final class WorkspaceChannel
{
    /**
     * Registers $authorize($user, string $workspace): bool for the channel, e.g. in
     * routes/channels.php. Until an app calls it, Laravel refuses every subscription (403).
     */
    public static function authorizeUsing(callable $authorize): void
    {
        $pattern = (string) config('wa-sidecar.broadcast.channel', 'workspace.{workspace}');
        Broadcast::channel($pattern, fn ($user, string $workspace) => (bool) $authorize($user, $workspace));
    }

    /** The channel name for a workspace, without Laravel's "private-" prefix. */
    public static function name(string $workspace): string
    {
        return SessionQrUpdated::channelName($workspace);
    }
}
