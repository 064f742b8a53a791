<?php

namespace WaSidecar\Laravel\Facades;

use Illuminate\Support\Facades\Facade;
use WaSidecar\Laravel\Client;

/**
 * @method static array createSession(string $workspace, string $session, array $options = [])
 * @method static array listSessions(string $workspace)
 * @method static array getSession(string $workspace, string $session)
 * @method static array startSession(string $workspace, string $session)
 * @method static array stopSession(string $workspace, string $session)
 * @method static array restartSession(string $workspace, string $session)
 * @method static array logoutSession(string $workspace, string $session)
 * @method static void deleteSession(string $workspace, string $session)
 * @method static string qrRaw(string $workspace, string $session)
 * @method static string qrPng(string $workspace, string $session)
 * @method static array qr(string $workspace, string $session)
 * @method static array requestPairingCode(string $workspace, string $session, string $phone)
 * @method static array sendMessage(string $workspace, string $session, array $message, ?string $idempotencyKey = null)
 * @method static array getMessage(string $workspace, string $session, string $messageId)
 * @method static array getWorkspace(string $workspace)
 * @method static array ping(string $workspace, string $message = 'ping')
 * @method static array request(string $method, string $path, ?array $json = null, array $query = [], ?string $idempotencyKey = null)
 *
 * @see Client
 */
class WaSidecar extends Facade
{
    protected static function getFacadeAccessor(): string
    {
        return Client::class;
    }
}
