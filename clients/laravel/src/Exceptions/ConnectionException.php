<?php

namespace WaSidecar\Laravel\Exceptions;

/** no answer: the sidecar could not be reached or timed out (errorCode CONNECTION_FAILED) */
class ConnectionException extends SidecarException
{
}
