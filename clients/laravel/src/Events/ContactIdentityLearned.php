<?php

namespace WaSidecar\Laravel\Events;

/** `contact.identity`: a LID and phone number pair was learned (data: id, lid, pn, push_name). */
class ContactIdentityLearned extends SidecarEvent
{
}
