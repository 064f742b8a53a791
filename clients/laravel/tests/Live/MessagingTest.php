<?php

namespace WaSidecar\Laravel\Tests\Live;

use RuntimeException;
use WaSidecar\Laravel\Exceptions\InvalidRequestException;
use WaSidecar\Laravel\Exceptions\NotFoundException;
use WaSidecar\Laravel\Facades\WaSidecar;
use WaSidecar\Laravel\Tests\TestCase;

/**
 * Live, on loopback, the same stack as SessionLinkTest (the built sidecar with its default pacing,
 * wa-sim, the test app under `php -S`): a session linked through the package sends a text that
 * reaches the wa-sim phone, and the app hears its statuses as MessageStatusChanged; the phone
 * writes back and the app gets MessageReceived with the text and the sender, then an image whose
 * bytes the package downloads.
 */
class MessagingTest extends TestCase
{
    private const ACCOUNT = '15551234567';

    private const FRIEND = '15557654321';

    private ?LiveStack $stack = null;

    protected function setUp(): void
    {
        parent::setUp();
        foreach (['WA_SIDECAR_BIN', 'WA_SIM_BIN'] as $bin) {
            if (LiveStack::binary($bin) === null) {
                $this->markTestSkipped("{$bin} is not set (ops/test-php.sh builds and sets it)");
            }
        }
        $this->stack = new LiveStack();
        $this->stack->startSim();
        $this->stack->startApp();
        $this->stack->startSidecar();
        config()->set('wa-sidecar.url', $this->stack->sidecarUrl);
        config()->set('wa-sidecar.key', LiveStack::KEY_B64);
    }

    protected function tearDown(): void
    {
        $this->stack?->stop();
        $this->stack = null;
        parent::tearDown();
    }

    public function test_a_text_sent_through_the_package_reaches_the_phone_and_the_phones_answer_becomes_message_received(): void
    {
        $stack = $this->stack;
        $this->link('acme', 'main');
        $stack->sim('POST', '/accounts/'.self::FRIEND, ['pushname' => 'Ann']);

        // Sending: the 202, then the message on the phone, then its statuses as events.
        $sent = WaSidecar::sendText('acme', 'main', '+'.self::FRIEND, 'Hello from Laravel', ['client_ref' => 'order-42'], 'order-42');
        $this->assertSame('queued', $sent['status']);
        $this->assertSame('order-42', $sent['client_ref']);
        $again = WaSidecar::sendText('acme', 'main', '+'.self::FRIEND, 'Hello from Laravel', ['client_ref' => 'order-42'], 'order-42');
        $this->assertSame($sent['id'], $again['id'], 'a repeat with the same Idempotency-Key is the same message');

        $onPhone = $this->waitFor(fn () => array_values(array_filter($this->phoneReceived(), fn ($m) => ($m['body'] ?? '') === 'Hello from Laravel')) ?: null, 60, 'the text on the phone');
        $this->assertSame('chat', $onPhone[0]['type']);
        $this->assertStringContainsString(self::ACCOUNT, (string) $onPhone[0]['sender']);

        $sentEvent = $stack->waitEvent(fn ($e) => $e['type'] === 'message.status' && ($e['data']['id'] ?? '') === $sent['id'] && $e['data']['status'] === 'sent', 60, 'MessageStatusChanged sent');
        $this->assertSame('WaSidecar\Laravel\Events\MessageStatusChanged', $sentEvent['class']);
        $this->assertSame('order-42', $sentEvent['data']['client_ref']);
        $this->assertSame(['acme', 'main'], [$sentEvent['workspace'], $sentEvent['session']]);

        $stack->sim('POST', '/messages/'.rawurlencode($onPhone[0]['id']).'/ack', ['ack' => 3]);
        $stack->waitEvent(fn ($e) => $e['type'] === 'message.status' && ($e['data']['id'] ?? '') === $sent['id'] && $e['data']['status'] === 'read', 30, 'MessageStatusChanged read');
        $message = WaSidecar::getMessage('acme', 'main', $sent['id']);
        $this->assertSame('read', $message['status']);
        $this->assertSame(['queued', 'sent', 'read'], array_column($message['history'], 'status'));
        $statuses = array_map(fn ($e) => $e['data']['status'], array_values(array_filter($stack->events(), fn ($e) => $e['type'] === 'message.status' && ($e['data']['id'] ?? '') === $sent['id'])));
        $this->assertSame(['sent', 'read'], $statuses, 'one event per change, none twice');
        $this->assertCount(1, array_filter($this->phoneReceived(), fn ($m) => ($m['body'] ?? '') === 'Hello from Laravel'), 'sent once');

        // Receiving: the phone writes back.
        $reply = $stack->sim('POST', '/messages', ['from' => self::FRIEND, 'to' => self::ACCOUNT, 'type' => 'text', 'text' => 'Hi from the phone']);
        $this->assertArrayHasKey('key', $reply, json_encode($reply));
        $in = $stack->waitEvent(fn ($e) => $e['type'] === 'message.received' && ($e['data']['text'] ?? '') === 'Hi from the phone', 60, 'MessageReceived');
        $this->assertSame('WaSidecar\Laravel\Events\MessageReceived', $in['class']);
        $this->assertSame(self::FRIEND, $in['data']['from']['pn']);
        $this->assertSame('Ann', $in['data']['from']['push_name']);
        $this->assertSame(['id' => self::FRIEND.'@c.us', 'type' => 'user'], $in['data']['chat']);
        $this->assertSame('live', $in['data']['source']);
        $this->assertSame($reply['key'], $in['data']['wa_id']);
        $identity = $stack->waitEvent(fn ($e) => $e['type'] === 'contact.identity' && ($e['data']['pn'] ?? '') === self::FRIEND, 10, 'ContactIdentityLearned');
        $this->assertSame('WaSidecar\Laravel\Events\ContactIdentityLearned', $identity['class']);
        $this->assertSame($in['data']['from']['lid'], $identity['data']['lid']);
        $byWaId = WaSidecar::getMessage('acme', 'main', $reply['key']);
        $this->assertSame([$in['data']['id'], 'in'], [$byWaId['id'], $byWaId['direction']], 'found by WhatsApp\'s id too');

        // Media: the bytes the phone sent, downloaded through the package.
        $png = "\x89PNG\r\n\x1a\n".random_bytes(2000);
        $stack->sim('POST', '/messages', ['from' => self::FRIEND, 'to' => self::ACCOUNT, 'type' => 'image', 'media' => ['data' => base64_encode($png), 'mimetype' => 'image/png', 'caption' => 'the receipt']]);
        $image = $stack->waitEvent(fn ($e) => $e['type'] === 'message.received' && ($e['data']['caption'] ?? '') === 'the receipt', 60, 'MessageReceived with an image');
        $this->assertSame('image/png', $image['data']['media']['mime_type']);
        $this->assertSame($png, WaSidecar::downloadMedia('acme', 'main', $image['data']['media']['id']));

        // What receiving serves, through the package.
        $this->assertContains(self::FRIEND.'@c.us', array_column(WaSidecar::listChats('acme', 'main'), 'id'));
        $page = WaSidecar::chatMessages('acme', 'main', '+'.self::FRIEND, 20);
        $this->assertContains('Hi from the phone', array_column($page['messages'], 'text'), json_encode($page));
        $lookup = WaSidecar::lookupContacts('acme', 'main', ['+'.self::FRIEND]);
        $this->assertTrue($lookup[0]['exists']);
        $limits = WaSidecar::sendingLimits('acme', 'main');
        $this->assertSame([true, 1, $limits['daily_cap'] - 1], [$limits['pacing'], $limits['accepted_today'], $limits['remaining_today']], 'the repeat was not counted');

        // Operations on the sent message, seen on the phone.
        $this->assertSame('Hello from Laravel, edited', WaSidecar::editMessage('acme', 'main', $sent['id'], 'Hello from Laravel, edited')['text']);
        $this->waitFor(fn () => array_filter($this->phoneReceived(), fn ($m) => ($m['body'] ?? '') === 'Hello from Laravel, edited') ?: null, 20, 'the edit on the phone');
        $this->assertSame('🎉', WaSidecar::reactToMessage('acme', 'main', $sent['id'], '🎉')['emoji']);
        $this->assertTrue(WaSidecar::deleteMessage('acme', 'main', $sent['id'])['revoked']);
        $this->waitFor(fn () => array_filter($this->phoneReceived(), fn ($m) => ($m['id'] ?? '') === $onPhone[0]['id'] && $m['type'] === 'revoked') ?: null, 20, 'the revoke on the phone');

        // Typed errors carry the sidecar's code.
        try {
            WaSidecar::sendText('acme', 'main', 'not a phone', 'x');
            $this->fail('a bad recipient was accepted');
        } catch (InvalidRequestException $e) {
            $this->assertSame('INVALID_RECIPIENT', $e->errorCode);
            $this->assertNotEmpty($e->requestId);
        }
        try {
            WaSidecar::getMessage('acme', 'main', 'out_00000000000000000000000000');
            $this->fail('an unknown message was found');
        } catch (NotFoundException $e) {
            $this->assertSame('MESSAGE_NOT_FOUND', $e->errorCode);
        }

        // Exactly once: each message one event, every webhook id dispatched once.
        usleep(1500000);
        $events = $stack->events();
        $this->assertCount(1, array_filter($events, fn ($e) => $e['type'] === 'message.received' && ($e['data']['text'] ?? '') === 'Hi from the phone'));
        $ids = array_column($events, 'id');
        $this->assertSame(count($ids), count(array_unique($ids)));
    }

    /** Creates the session through the package and scans its QR with the wa-sim phone. */
    private function link(string $workspace, string $session): void
    {
        WaSidecar::createSession($workspace, $session);
        $qr = $this->stack->waitEvent(fn ($e) => $e['type'] === 'session.qr' && $e['session'] === $session, 45, 'SessionQrUpdated');
        $device = $this->stack->sim('POST', '/scan', ['code' => $qr['data']['raw'], 'phone' => self::ACCOUNT]);
        $this->assertArrayHasKey('id', $device, json_encode($device));
        $this->stack->waitEvent(fn ($e) => $e['type'] === 'session.status' && ($e['data']['state'] ?? '') === 'connected', 45, 'SessionStatusChanged connected');
    }

    /** @return list<array> what the friend's phone has received (wa-sim's control API) */
    private function phoneReceived(): array
    {
        return $this->stack->sim('GET', '/accounts/'.self::FRIEND.'/messages')['received'] ?? [];
    }

    private function waitFor(callable $probe, float $timeout, string $what): mixed
    {
        $deadline = microtime(true) + $timeout;
        do {
            $got = $probe();
            if ($got !== null) {
                return $got;
            }
            usleep(200000);
        } while (microtime(true) < $deadline);
        throw new RuntimeException("no {$what} within {$timeout} s; sidecar log tail: ".$this->stack->tail('sidecar.log'));
    }
}
