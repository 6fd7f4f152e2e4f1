const crypto = require('node:crypto');

// rawBody: a Buffer of the exact bytes received. headers: names in lower case.
function verifyThereThereSignature(rawBody, headers, secret) {
  const expected = Buffer.from(crypto.createHmac('sha256', secret).update(rawBody).digest('hex'));
  const given = Buffer.from(headers['therethere-signature'] || '');
  return given.length === expected.length && crypto.timingSafeEqual(expected, given);
}

// Standard Webhooks: also refuses replays older than the tolerance.
function verifyStandardWebhook(rawBody, headers, secret, toleranceSeconds = 300) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  if (!id || !timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) {
    return false;
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = Buffer.from(
    crypto.createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest('base64'));
  return (headers['webhook-signature'] || '').split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature || '');
    return version === 'v1' && given.length === expected.length && crypto.timingSafeEqual(expected, given);
  });
}
