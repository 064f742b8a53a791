<?php

namespace WaSidecar\Laravel\Exceptions;

/** 404: no such session, QR or route */
class NotFoundException extends SidecarException
{
}
