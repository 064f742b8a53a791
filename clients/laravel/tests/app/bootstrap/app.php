<?php

// The test app's Application: Laravel's own kernels and exception handler, nothing app-specific.
$app = new Illuminate\Foundation\Application(dirname(__DIR__));
$app->singleton(Illuminate\Contracts\Http\Kernel::class, Illuminate\Foundation\Http\Kernel::class);
$app->singleton(Illuminate\Contracts\Console\Kernel::class, Illuminate\Foundation\Console\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, Illuminate\Foundation\Exceptions\Handler::class);
if ($storage = getenv('WA_TEST_STORAGE')) {
    $app->useStoragePath($storage);
}

return $app;
