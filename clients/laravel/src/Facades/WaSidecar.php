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
 * @method static array sendText(string $workspace, string $session, string $to, string $body, array $options = [], ?string $idempotencyKey = null)
 * @method static array getMessage(string $workspace, string $session, string $messageId)
 * @method static array editMessage(string $workspace, string $session, string $messageId, string $text)
 * @method static array deleteMessage(string $workspace, string $session, string $messageId, bool $forEveryone = true)
 * @method static array reactToMessage(string $workspace, string $session, string $messageId, string $emoji)
 * @method static array forwardMessage(string $workspace, string $session, string $messageId, string $to)
 * @method static array starMessage(string $workspace, string $session, string $messageId, bool $star = true)
 * @method static array markChatRead(string $workspace, string $session, string $chat)
 * @method static array setChatPresence(string $workspace, string $session, string $chat, string $state, ?int $durationMs = null)
 * @method static array lookupContacts(string $workspace, string $session, array $phones)
 * @method static array sendingLimits(string $workspace, string $session)
 * @method static array listChats(string $workspace, string $session)
 * @method static array chatMessages(string $workspace, string $session, string $chat, ?int $limit = null, ?string $before = null)
 * @method static array getContact(string $workspace, string $session, string $contact)
 * @method static array listGroups(string $workspace, string $session)
 * @method static array getGroup(string $workspace, string $session, string $group)
 * @method static string downloadMedia(string $workspace, string $session, string $mediaId, ?string $saveTo = null)
 * @method static array refetchMedia(string $workspace, string $session, string $mediaId)
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
