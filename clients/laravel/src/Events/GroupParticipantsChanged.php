<?php

namespace WaSidecar\Laravel\Events;

/** `group.participants`: people joined, left, were added, removed, promoted or demoted in a group. */
class GroupParticipantsChanged extends SidecarEvent
{
}
