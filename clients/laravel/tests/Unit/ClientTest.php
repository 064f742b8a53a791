<?php

namespace WaSidecar\Laravel\Tests\Unit;

use Illuminate\Http\Client\Request;
use Illuminate\Support\Facades\Http;
use WaSidecar\Laravel\Client;
use WaSidecar\Laravel\Exceptions\ConflictException;
use WaSidecar\Laravel\Exceptions\NotFoundException;
use WaSidecar\Laravel\Exceptions\RateLimitedException;
use WaSidecar\Laravel\Exceptions\SidecarException;
use WaSidecar\Laravel\Facades\WaSidecar;
use WaSidecar\Laravel\Signing\RequestSigner;
use WaSidecar\Laravel\Tests\TestCase;

/** The client through Laravel's HTTP client faked at the wire: what it sends, and what it makes of answers. */
class ClientTest extends TestCase
{
    /** True when $r carries a valid v1 signature over exactly what it sends (checked from scratch). */
    private static function validlySigned(Request $r): bool
    {
        $psr = $r->toPsrRequest();
        $canonical = RequestSigner::canonicalString((int) $r->header('X-Timestamp')[0], $r->header('X-Nonce')[0], $r->method(),
            $psr->getUri()->getPath(), $psr->getUri()->getQuery(), $r->body());
        $expected = 'v1='.hash_hmac('sha256', $canonical, base64_decode(self::KEY_B64));

        return $r->hasHeader('X-Key-Id', 'host') && hash_equals($expected, $r->header('X-HMAC-Signature')[0]);
    }

    public function test_the_provider_is_discovered_and_the_facade_and_class_are_one_client(): void
    {
        $this->assertInstanceOf(Client::class, WaSidecar::getFacadeRoot());
        $this->assertSame(app(Client::class), WaSidecar::getFacadeRoot());
        $this->assertSame('workspace.{workspace}', config('wa-sidecar.broadcast.channel'));
    }

    public function test_every_session_route_is_called_signed_with_the_right_method_and_path(): void
    {
        Http::fake(fn (Request $r) => Http::response(
            str_ends_with($r->url(), 'format=raw') ? '2@ref,noise,id,adv' : ($r->method() === 'DELETE' ? '' : ['id' => 'main', 'sessions' => [['id' => 'main']], 'code' => 'ABCD1234', 'phone' => '15551234567']),
            $r->method() === 'DELETE' ? 204 : 200,
        ));
        $base = 'http://127.0.0.1:9/v1/workspaces/acme/sessions';
        $calls = [
            ['POST', $base, fn () => WaSidecar::createSession('acme', 'main', ['callback_url' => 'https://app.test/hook', 'metadata' => ['team' => 'sales']])],
            ['GET', $base, fn () => WaSidecar::listSessions('acme')],
            ['GET', "{$base}/main", fn () => WaSidecar::getSession('acme', 'main')],
            ['POST', "{$base}/main/start", fn () => WaSidecar::startSession('acme', 'main')],
            ['POST', "{$base}/main/stop", fn () => WaSidecar::stopSession('acme', 'main')],
            ['POST', "{$base}/main/restart", fn () => WaSidecar::restartSession('acme', 'main')],
            ['POST', "{$base}/main/logout", fn () => WaSidecar::logoutSession('acme', 'main')],
            ['DELETE', "{$base}/main", fn () => WaSidecar::deleteSession('acme', 'main')],
            ['GET', "{$base}/main/qr?format=raw", fn () => WaSidecar::qrRaw('acme', 'main')],
            ['POST', "{$base}/main/pairing-code", fn () => WaSidecar::requestPairingCode('acme', 'main', '+15551234567')],
            ['POST', "{$base}/main/messages", fn () => WaSidecar::sendMessage('acme', 'main', ['to' => '15557654321', 'type' => 'text', 'text' => ['body' => 'hi']], 'order-42')],
            ['GET', "{$base}/main/messages/3EB0ABC", fn () => WaSidecar::getMessage('acme', 'main', '3EB0ABC')],
        ];
        foreach ($calls as [$method, $url, $call]) {
            $call();
            Http::assertSent(fn (Request $r) => $r->method() === $method && $r->url() === $url && self::validlySigned($r));
        }
        Http::assertSentCount(count($calls));
        $this->assertSame('2@ref,noise,id,adv', WaSidecar::qrRaw('acme', 'main'));
        $this->assertSame(['code' => 'ABCD1234', 'phone' => '15551234567'], array_intersect_key(WaSidecar::requestPairingCode('acme', 'main', '+15551234567'), ['code' => 1, 'phone' => 1]));
        Http::assertSent(fn (Request $r) => str_ends_with($r->url(), '/sessions') && $r->method() === 'POST'
            && $r->body() === '{"id":"main","callback_url":"https://app.test/hook","metadata":{"team":"sales"}}'
            && $r->hasHeader('Content-Type', 'application/json'));
        Http::assertSent(fn (Request $r) => str_ends_with($r->url(), '/messages') && $r->hasHeader('Idempotency-Key', 'order-42'));
        Http::assertSent(fn (Request $r) => str_ends_with($r->url(), '/start') && $r->body() === '' && strlen($r->header('Idempotency-Key')[0] ?? '') === 36);
    }

    public function test_errors_carry_the_sidecars_code_status_and_request_id(): void
    {
        Http::fake([
            '*/sessions/ghost' => Http::response(['error' => ['code' => 'SESSION_NOT_FOUND', 'message' => 'no session ghost', 'request_id' => 'req-1']], 404),
            '*/sessions' => Http::response(['error' => ['code' => 'SESSION_EXISTS', 'message' => 'exists', 'request_id' => 'req-2']], 409),
            '*/ping' => Http::response('<html>proxy</html>', 502),
        ]);
        try {
            WaSidecar::getSession('acme', 'ghost');
            $this->fail('no exception');
        } catch (NotFoundException $e) {
            $this->assertSame('SESSION_NOT_FOUND', $e->errorCode);
            $this->assertSame(404, $e->status);
            $this->assertSame('req-1', $e->requestId);
        }
        try {
            WaSidecar::createSession('acme', 'main');
            $this->fail('no exception');
        } catch (ConflictException $e) {
            $this->assertSame('SESSION_EXISTS', $e->errorCode);
        }
        try {
            WaSidecar::ping('acme');
            $this->fail('no exception');
        } catch (SidecarException $e) {
            $this->assertSame('HTTP_502', $e->errorCode, 'an answer without the envelope still has a code');
        }
    }

    public function test_a_retry_is_signed_afresh_and_keeps_its_idempotency_key(): void
    {
        Http::fakeSequence()
            ->push(['error' => ['code' => 'INTERNAL', 'message' => 'busy']], 503)
            ->push(['id' => 'm1', 'status' => 'queued', 'to' => '15557654321', 'client_ref' => null, 'created_at' => 'now'], 202);
        $answer = WaSidecar::sendMessage('acme', 'main', ['to' => '15557654321', 'type' => 'text', 'text' => ['body' => 'hi']]);
        $this->assertSame('m1', $answer['id']);
        $sent = Http::recorded()->map(fn ($pair) => $pair[0]);
        $this->assertCount(2, $sent);
        [$first, $second] = [$sent[0], $sent[1]];
        $this->assertSame($first->header('Idempotency-Key'), $second->header('Idempotency-Key'));
        $this->assertNotSame($first->header('X-Nonce'), $second->header('X-Nonce'), 'a repeated nonce would be refused');
        $this->assertTrue(self::validlySigned($first) && self::validlySigned($second));
    }

    public function test_a_refusal_is_not_retried(): void
    {
        Http::fake(['*' => Http::response(['error' => ['code' => 'INVALID_FIELD', 'message' => 'to: missing']], 400)]);
        try {
            WaSidecar::sendMessage('acme', 'main', ['type' => 'text']);
            $this->fail('no exception');
        } catch (SidecarException $e) {
            $this->assertSame('INVALID_FIELD', $e->errorCode);
        }
        Http::assertSentCount(1);
    }

    public function test_every_message_route_is_called_signed_with_its_method_path_and_body(): void
    {
        Http::fake(fn (Request $r) => Http::response(['results' => [['phone' => '15557654321', 'exists' => true]], 'chats' => [['id' => '15557654321@c.us']], 'groups' => []], 200));
        $base = 'http://127.0.0.1:9/v1/workspaces/acme/sessions/main';
        $calls = [
            ['POST', "{$base}/messages", '{"to":"+15557654321","type":"text","text":{"body":"hi","preview_url":true},"client_ref":"order-42"}',
                fn () => WaSidecar::sendText('acme', 'main', '+15557654321', 'hi', ['client_ref' => 'order-42', 'preview_url' => true], 'order-42')],
            ['PATCH', "{$base}/messages/out_1", '{"text":"fixed"}', fn () => WaSidecar::editMessage('acme', 'main', 'out_1', 'fixed')],
            ['DELETE', "{$base}/messages/out_1?for=everyone", '', fn () => WaSidecar::deleteMessage('acme', 'main', 'out_1')],
            ['DELETE', "{$base}/messages/out_1?for=me", '', fn () => WaSidecar::deleteMessage('acme', 'main', 'out_1', false)],
            ['POST', "{$base}/messages/in_2/reaction", '{"emoji":"👍"}', fn () => WaSidecar::reactToMessage('acme', 'main', 'in_2', '👍')],
            ['POST', "{$base}/messages/in_2/forward", '{"to":"15550001111"}', fn () => WaSidecar::forwardMessage('acme', 'main', 'in_2', '15550001111')],
            ['POST', "{$base}/messages/in_2/star", '{"star":false}', fn () => WaSidecar::starMessage('acme', 'main', 'in_2', false)],
            ['GET', "{$base}/messages/true_15557654321@c.us_3EB0", '', fn () => WaSidecar::getMessage('acme', 'main', 'true_15557654321@c.us_3EB0')],
            ['POST', "{$base}/chats/15557654321@c.us/read", '', fn () => WaSidecar::markChatRead('acme', 'main', '15557654321@c.us')],
            ['POST', "{$base}/chats/+15557654321/presence", '{"state":"typing","duration_ms":3000}', fn () => WaSidecar::setChatPresence('acme', 'main', '+15557654321', 'typing', 3000)],
            ['POST', "{$base}/contacts/lookup", '{"phones":["+15557654321"]}', fn () => WaSidecar::lookupContacts('acme', 'main', ['+15557654321'])],
            ['GET', "{$base}/sending-limits", '', fn () => WaSidecar::sendingLimits('acme', 'main')],
            ['GET', "{$base}/chats", '', fn () => WaSidecar::listChats('acme', 'main')],
            ['GET', "{$base}/chats/120363012345678901@g.us/messages?limit=20&before=in_9", '', fn () => WaSidecar::chatMessages('acme', 'main', '120363012345678901@g.us', 20, 'in_9')],
            ['GET', "{$base}/contacts/1234567890123@lid", '', fn () => WaSidecar::getContact('acme', 'main', '1234567890123@lid')],
            ['GET', "{$base}/groups", '', fn () => WaSidecar::listGroups('acme', 'main')],
            ['GET', "{$base}/groups/120363012345678901@g.us", '', fn () => WaSidecar::getGroup('acme', 'main', '120363012345678901@g.us')],
            ['POST', "{$base}/media/med_1/refetch", '', fn () => WaSidecar::refetchMedia('acme', 'main', 'med_1')],
        ];
        foreach ($calls as [$method, $url, $body, $call]) {
            $call();
            Http::assertSent(fn (Request $r) => $r->method() === $method && $r->url() === $url && $r->body() === $body && self::validlySigned($r));
        }
        Http::assertSentCount(count($calls));
        Http::assertSent(fn (Request $r) => $r->method() === 'POST' && str_ends_with($r->url(), '/messages') && $r->hasHeader('Idempotency-Key', 'order-42'));
        $this->assertSame([['phone' => '15557654321', 'exists' => true]], WaSidecar::lookupContacts('acme', 'main', ['15557654321']));
        $this->assertSame([['id' => '15557654321@c.us']], WaSidecar::listChats('acme', 'main'));
    }

    public function test_media_comes_back_as_bytes_or_streamed_to_a_file(): void
    {
        $bytes = "\x89PNG\r\n\x1a\n".random_bytes(64);
        Http::fake(['*/media/med_1' => Http::response($bytes, 200, ['Content-Type' => 'image/png'])]);
        $this->assertSame($bytes, WaSidecar::downloadMedia('acme', 'main', 'med_1'));
        $file = tempnam(sys_get_temp_dir(), 'wa-media-');
        try {
            $this->assertSame($file, WaSidecar::downloadMedia('acme', 'main', 'med_1', $file));
            $this->assertSame($bytes, file_get_contents($file));
        } finally {
            @unlink($file);
        }
        Http::assertSent(fn (Request $r) => $r->method() === 'GET' && self::validlySigned($r) && $r->hasHeader('Accept', '*/*'));
    }

    public function test_a_session_not_ready_is_a_conflict_and_is_not_retried(): void
    {
        Http::fake(['*' => Http::response(['error' => ['code' => 'SESSION_NOT_READY', 'message' => 'the session is logged_out']], 409)]);
        try {
            WaSidecar::sendText('acme', 'main', '+15557654321', 'hi');
            $this->fail('no exception');
        } catch (ConflictException $e) {
            $this->assertSame('SESSION_NOT_READY', $e->errorCode);
            $this->assertSame(409, $e->status);
        }
        Http::assertSentCount(1);
    }

    public function test_a_cap_that_lasts_longer_than_the_retry_budget_is_handed_to_the_caller_with_retry_after(): void
    {
        Http::fake(['*' => Http::response(['error' => ['code' => 'SENDING_LIMIT_REACHED', 'message' => 'daily cap']], 429, ['Retry-After' => '3600'])]);
        $started = microtime(true);
        try {
            WaSidecar::sendText('acme', 'main', '+15557654321', 'hi');
            $this->fail('no exception');
        } catch (RateLimitedException $e) {
            $this->assertSame('SENDING_LIMIT_REACHED', $e->errorCode);
            $this->assertSame(3600, $e->retryAfter);
        }
        Http::assertSentCount(1);
        $this->assertLessThan(1.0, microtime(true) - $started, 'no sleep for a wait the retry budget cannot cover');
    }

    public function test_a_short_retry_after_is_waited_out_with_the_same_idempotency_key(): void
    {
        Http::fakeSequence()
            ->push(['error' => ['code' => 'QUEUE_FULL', 'message' => 'full']], 429, ['Retry-After' => '0'])
            ->push(['id' => 'out_1', 'status' => 'queued', 'to' => '+15557654321', 'client_ref' => null, 'created_at' => 'now'], 202);
        $this->assertSame('out_1', WaSidecar::sendText('acme', 'main', '+15557654321', 'hi')['id']);
        $sent = Http::recorded()->map(fn ($pair) => $pair[0]);
        $this->assertCount(2, $sent);
        $this->assertSame($sent[0]->header('Idempotency-Key'), $sent[1]->header('Idempotency-Key'));
    }
}
