<?php

// Front controller of the test app under `php -S 127.0.0.1:PORT public/index.php`.
require __DIR__.'/../../bootstrap.php';

$app = require __DIR__.'/../bootstrap/app.php';
$kernel = $app->make(Illuminate\Contracts\Http\Kernel::class);
$response = $kernel->handle($request = Illuminate\Http\Request::capture());
$response->send();
$kernel->terminate($request, $response);
