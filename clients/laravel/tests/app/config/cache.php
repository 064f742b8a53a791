<?php

return [
    'default' => env('CACHE_DRIVER', 'file'),
    'stores' => [
        'array' => ['driver' => 'array', 'serialize' => false],
        'file' => ['driver' => 'file', 'path' => env('WA_TEST_CACHE_DIR', storage_path('framework/cache/data'))],
    ],
    'prefix' => 'wa_test',
];
