<?php

// Autoloading for the tests and the test app: Debian's Laravel and Guzzle (include_path), then
// Composer's autoloader of the test app (our package through its path repository).
require_once 'Illuminate/autoload.php';
require_once 'GuzzleHttp/autoload.php';
require_once __DIR__.'/app/vendor/autoload.php';
require_once __DIR__.'/support/Pusher.php';
