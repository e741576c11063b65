<?php
// Verify a Standard Webhooks delivery with no library (PHP 7.4+). Usage:
//   $event = verify_webhook('whsec_…', file_get_contents('php://input'), getallheaders());
// then drop duplicates by the webhook-id header and handle $event['type'], $event['data'].
function verify_webhook(string $secret, string $body, array $headers, int $tolerance = 300): array
{
    $headers = array_change_key_case($headers, CASE_LOWER);
    $id = (string) ($headers['webhook-id'] ?? '');
    $timestamp = (string) ($headers['webhook-timestamp'] ?? '');
    $signatures = (string) ($headers['webhook-signature'] ?? '');
    if ($id === '' || !ctype_digit($timestamp) || $signatures === '') {
        throw new RuntimeException('missing webhook headers');
    }
    if (abs(time() - (int) $timestamp) > $tolerance) {
        throw new RuntimeException('timestamp too old or too new');
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret), true);
    if ($key === false) {
        throw new RuntimeException('the secret is not base64');
    }
    $expected = base64_encode(hash_hmac('sha256', "{$id}.{$timestamp}.{$body}", $key, true));
    foreach (explode(' ', $signatures) as $versioned) {
        [$version, $signature] = array_pad(explode(',', $versioned, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $signature)) {
            return json_decode($body, true, 512, JSON_THROW_ON_ERROR);
        }
    }
    throw new RuntimeException('no matching signature');
}
