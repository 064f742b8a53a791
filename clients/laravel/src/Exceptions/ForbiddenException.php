<?php

namespace WaSidecar\Laravel\Exceptions;

/** 403: the key may not use this workspace, or this address is not allowed */
class ForbiddenException extends SidecarException
{
}
