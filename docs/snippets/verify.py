import base64
import hashlib
import hmac
import time


def verify_therethere_signature(raw_body: bytes, headers: dict, secret: str) -> bool:
    """raw_body: the exact bytes received. headers: names in lower case."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("therethere-signature", ""))


def verify_standard_webhook(raw_body: bytes, headers: dict, secret: str, tolerance: int = 300) -> bool:
    """Standard Webhooks: also refuses replays older than the tolerance."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    if not msg_id or not timestamp or abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + raw_body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, entry[3:])
        for entry in headers.get("webhook-signature", "").split()
        if entry.startswith("v1,")
    )
