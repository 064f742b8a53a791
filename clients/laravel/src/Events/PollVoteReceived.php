<?php

namespace WaSidecar\Laravel\Events;

/** `poll.vote`: a vote on a poll (data: message_id, message_wa_id, chat, from, selected (option names), timestamp). */
class PollVoteReceived extends SidecarEvent
{
}
