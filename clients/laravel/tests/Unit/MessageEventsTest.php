<?php

namespace WaSidecar\Laravel\Tests\Unit;

use Illuminate\Support\Facades\Event;
use WaSidecar\Laravel\Events\MessageReceived;
use WaSidecar\Laravel\Events\MessageSent;
use WaSidecar\Laravel\Events\MessageStatusChanged;
use WaSidecar\Laravel\Tests\TestCase;

/** The message events' accessors, on callbacks as the sidecar sends them, through the webhook route. */
class MessageEventsTest extends TestCase
{
    private function deliver(string $id, array $body): void
    {
        $json = json_encode($body, JSON_UNESCAPED_SLASHES);
        $this->call('POST', '/webhooks/wa-sidecar', [], [], [], $this->transformHeadersToServerVars(self::webhookHeaders($id, $json) + ['Content-Type' => 'application/json']), $json)
            ->assertOk();
    }

    public function test_a_received_message_tells_its_text_sender_chat_and_media(): void
    {
        Event::fake([MessageReceived::class, MessageSent::class]);
        $this->deliver('evt_in_1', ['type' => 'message.received', 'workspace' => 'acme', 'session' => 'main', 'timestamp' => '2026-12-02T21:40:00Z', 'data' => [
            'id' => 'in_1', 'wa_id' => 'false_15557654321@c.us_3EB0', 'chat' => ['id' => '15557654321@c.us', 'type' => 'user'],
            'from' => ['id' => '15557654321@c.us', 'lid' => '99887766@lid', 'pn' => '15557654321', 'push_name' => 'Ann'],
            'type' => 'image', 'caption' => 'a cat', 'media' => ['id' => 'med_1', 'mime_type' => 'image/png'], 'timestamp' => 1795297869, 'source' => 'catchup',
        ]]);
        $this->deliver('evt_out_1', ['type' => 'message.sent', 'workspace' => 'acme', 'session' => 'main', 'data' => [
            'id' => 'in_2', 'chat' => ['id' => '120363012345678901@g.us', 'type' => 'group'], 'type' => 'text', 'text' => 'from my phone', 'origin' => 'phone',
        ]]);

        Event::assertDispatched(MessageReceived::class, function (MessageReceived $e) {
            $this->assertSame(['in_1', 'false_15557654321@c.us_3EB0', 'image', 'a cat'], [$e->messageId(), $e->waId(), $e->messageType(), $e->text()]);
            $this->assertSame(['15557654321', 'Ann', '99887766@lid'], [$e->sender()['pn'], $e->sender()['push_name'], $e->sender()['lid']]);
            $this->assertSame('15557654321@c.us', $e->chatId());
            $this->assertFalse($e->isGroup());
            $this->assertTrue($e->isCatchUp());
            $this->assertSame('med_1', $e->media()['id']);
            $this->assertSame(['acme', 'main'], [$e->workspace(), $e->session()]);

            return true;
        });
        Event::assertDispatched(MessageSent::class, function (MessageSent $e) {
            $this->assertSame(['from my phone', true, null], [$e->text(), $e->isGroup(), $e->sender()['pn']]);

            return true;
        });
    }

    public function test_a_status_change_tells_the_status_the_client_ref_and_the_error(): void
    {
        Event::fake([MessageStatusChanged::class]);
        $this->deliver('evt_st_1', ['type' => 'message.status', 'workspace' => 'acme', 'session' => 'main', 'data' => [
            'id' => 'out_1', 'status' => 'failed', 'client_ref' => 'order-42', 'error' => ['code' => 'recipient_not_on_whatsapp', 'message' => 'no account'],
        ]]);
        Event::assertDispatched(MessageStatusChanged::class, function (MessageStatusChanged $e) {
            $this->assertSame(['out_1', 'failed', 'order-42', true], [$e->messageId(), $e->status(), $e->clientRef(), $e->failed()]);
            $this->assertSame('recipient_not_on_whatsapp', $e->error()['code']);

            return true;
        });
    }
}
