<?php

namespace WaSidecar\Laravel\Events;

/** `poll.vote`: a vote on a poll. */
class PollVoteReceived extends SidecarEvent
{
}
