<?php

// TEST ONLY, never shipped with the package: the two classes of pusher/pusher-php-server that
// Laravel's PusherBroadcaster uses (Debian does not package that SDK). Hosts install the real one.
// trigger() signs per the Pusher HTTP API (protocols §3.1) and POSTs with Guzzle; socket_auth()
// signs a private-channel subscription (§3.2).

namespace Pusher;

if (! class_exists(Pusher::class, false)) {
    class ApiErrorException extends \Exception
    {
    }

    class Pusher
    {
        public function __construct(private string $key, private string $secret, private string $appId, private array $options = [])
        {
        }

        public function setLogger($logger): void
        {
        }

        /** The auth_* query of a signed Pusher HTTP API request. */
        public static function signedQuery(string $key, string $secret, string $method, string $path, string $body, int $timestamp): array
        {
            $params = ['auth_key' => $key, 'auth_timestamp' => (string) $timestamp, 'auth_version' => '1.0'];
            if ($body !== '') {
                $params['body_md5'] = md5($body);
            }
            ksort($params);
            $pairs = [];
            foreach ($params as $k => $v) {
                $pairs[] = $k.'='.$v;
            }
            $params['auth_signature'] = hash_hmac('sha256', $method."\n".$path."\n".implode('&', $pairs), $secret);

            return $params;
        }

        public function trigger($channels, string $event, $data, array $params = []): object
        {
            $body = json_encode(['name' => $event, 'channels' => (array) $channels,
                'data' => is_string($data) ? $data : json_encode($data)] + $params);
            $path = '/apps/'.$this->appId.'/events';
            $query = self::signedQuery($this->key, $this->secret, 'POST', $path, $body, time());
            $url = ($this->options['scheme'] ?? 'http').'://'.($this->options['host'] ?? '127.0.0.1').':'.($this->options['port'] ?? 6001).$path.'?'.http_build_query($query);
            $response = (new \GuzzleHttp\Client(['timeout' => 10, 'http_errors' => false]))
                ->post($url, ['body' => $body, 'headers' => ['Content-Type' => 'application/json']]);
            if ($response->getStatusCode() >= 300) {
                throw new ApiErrorException((string) $response->getBody(), $response->getStatusCode());
            }

            return (object) [];
        }

        public function socket_auth(string $channel, string $socketId, ?string $customData = null): string
        {
            $signed = $socketId.':'.$channel.($customData !== null ? ':'.$customData : '');

            return json_encode(['auth' => $this->key.':'.hash_hmac('sha256', $signed, $this->secret)]);
        }

        public function authorizeChannel(string $channel, string $socketId, ?string $customData = null): string
        {
            return $this->socket_auth($channel, $socketId, $customData);
        }

        public function presence_auth(string $channel, string $socketId, $userId, $userInfo = null): string
        {
            $data = json_encode(['user_id' => $userId, 'user_info' => $userInfo]);

            return json_encode(json_decode($this->socket_auth($channel, $socketId, $data), true) + ['channel_data' => $data]);
        }

        public function authorizePresenceChannel(string $channel, string $socketId, $userId, $userInfo = null): string
        {
            return $this->presence_auth($channel, $socketId, $userId, $userInfo);
        }
    }
}
