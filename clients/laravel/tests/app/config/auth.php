<?php

// Users of the test app are fixed (see AppServiceProvider): a bearer token names one.
return [
    'defaults' => ['guard' => 'token'],
    'guards' => ['token' => ['driver' => 'wa-test-token']],
    'providers' => [],
];
