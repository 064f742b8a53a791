<?php

return ['driver' => 'array', 'lifetime' => 120, 'cookie' => 'wa_test_session', 'path' => '/', 'domain' => null, 'secure' => false, 'http_only' => true, 'same_site' => 'lax'];
