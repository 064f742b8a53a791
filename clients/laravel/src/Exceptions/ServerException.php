<?php

namespace WaSidecar\Laravel\Exceptions;

/** 5xx: the sidecar, the browser or WhatsApp failed (WHATSAPP_ERROR, SESSION_TIMEOUT, …) */
class ServerException extends SidecarException
{
}
