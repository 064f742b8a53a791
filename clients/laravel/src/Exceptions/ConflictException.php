<?php

namespace WaSidecar\Laravel\Exceptions;

/** 409: the session exists, is not in the right state, or the limit is reached */
class ConflictException extends SidecarException
{
}
