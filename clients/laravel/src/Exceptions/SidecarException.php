<?php

namespace WaSidecar\Laravel\Exceptions;

use RuntimeException;
use Throwable;

/**
 * A refused or failed call to wa-sidecar. `errorCode` is the sidecar's stable code (docs/api.md,
 * e.g. SESSION_NOT_FOUND); `status` the HTTP status (0 when no answer came); `requestId` the
 * sidecar's X-Request-Id, to find the call in its log.
 */
class SidecarException extends RuntimeException
{
    public function __construct(
        string $message,
        public readonly string $errorCode,
        public readonly int $status = 0,
        public readonly ?string $requestId = null,
        public readonly ?array $body = null,
        ?Throwable $previous = null,
    ) {
        parent::__construct($message, $status, $previous);
    }

    /** The exception class for an error answer: by status, so every code maps to one type. */
    public static function fromResponse(int $status, ?array $json, ?string $requestId, string $rawBody = ''): self
    {
        $error = is_array($json['error'] ?? null) ? $json['error'] : [];
        $code = is_string($error['code'] ?? null) ? $error['code'] : 'HTTP_'.$status;
        $message = is_string($error['message'] ?? null) ? $error['message'] : trim(substr($rawBody, 0, 200));
        $requestId = is_string($error['request_id'] ?? null) ? $error['request_id'] : $requestId;
        $class = match (true) {
            $status === 401 => AuthenticationException::class,
            $status === 403 => ForbiddenException::class,
            $status === 404 => NotFoundException::class,
            $status === 409 => ConflictException::class,
            $status === 429 => RateLimitedException::class,
            $status >= 400 && $status < 500 => InvalidRequestException::class,
            default => ServerException::class,
        };

        return new $class("wa-sidecar {$status} {$code}: {$message}", $code, $status, $requestId, $json);
    }
}
