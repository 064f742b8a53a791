<?php

namespace WaSidecar\Laravel\Exceptions;

/** other 4xx: invalid id, field, phone, JSON, size or content type */
class InvalidRequestException extends SidecarException
{
}
