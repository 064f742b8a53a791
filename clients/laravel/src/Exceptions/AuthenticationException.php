<?php

namespace WaSidecar\Laravel\Exceptions;

/** 401: the signature or key was refused (the reason is only in the sidecar's log) */
class AuthenticationException extends SidecarException
{
}
