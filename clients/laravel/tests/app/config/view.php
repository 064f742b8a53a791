<?php

return [
    'paths' => [resource_path('views')],
    'compiled' => env('WA_TEST_VIEWS', storage_path('framework/views')),
];
