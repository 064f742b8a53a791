<?php

namespace WaSidecar\Laravel\Events;

/** `contact.identity`: a LID and phone number pair was learned. */
class ContactIdentityLearned extends SidecarEvent
{
}
