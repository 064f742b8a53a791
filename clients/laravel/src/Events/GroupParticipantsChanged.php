<?php

namespace WaSidecar\Laravel\Events;

/** `group.participants`: people were added, removed, promoted, demoted, joined or left (data: group {id, type}, action, participants [{id, lid, pn, push_name}], author, timestamp). */
class GroupParticipantsChanged extends SidecarEvent
{
}
