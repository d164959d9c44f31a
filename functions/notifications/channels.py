"""The two channels: signed webhooks (Standard Webhooks) and reminder emails over SMTP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import smtplib
import ssl
import time
import urllib.parse
from email.message import EmailMessage
from typing import Any

import certifi
import requests
import urllib3

from shared.domain.times import zone
from shared.settings import Settings

TIMEOUT = (3.05, 10)  # connect, read


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def post_webhook(
    url: str,
    secret: str,
    msg_id: str,
    payload: dict[str, Any],
    addresses: list[str] | None = None,
    traceparent: str | None = None,
) -> int:
    """POST the payload; return the HTTP status (raises OSError/requests exceptions on network errors).

    With `addresses` (those the SSRF check approved) the connection goes to one of them, with
    the URL's host in the Host header and for TLS in SNI and certificate checks: the host
    name is never resolved again.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TaskFlow-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
    if traceparent:
        headers["traceparent"] = traceparent
    if not addresses:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
        return response.status_code
    return _post_pinned(url, addresses, body, headers)


def _post_pinned(url: str, addresses: list[str], body: bytes, headers: dict[str, str]) -> int:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    timeout = urllib3.Timeout(connect=TIMEOUT[0], read=TIMEOUT[1])
    last_error: Exception | None = None
    for address in addresses:
        pool: urllib3.HTTPConnectionPool  # or its HTTPS subclass
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                retries=False,
                server_hostname=parts.hostname,
                assert_hostname=parts.hostname,
                ssl_context=ssl.create_default_context(cafile=certifi.where()),
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        try:
            with pool:
                response = pool.urlopen(
                    "POST",
                    path,
                    body=body,
                    headers={**headers, "Host": parts.netloc},
                    redirect=False,
                    preload_content=True,
                )
                return response.status
        except urllib3.exceptions.NewConnectionError as exc:
            last_error = exc  # this address refuses: try the next approved one
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionError(f"webhook request to {address} failed: {exc}") from None
    raise ConnectionError(f"could not connect to any approved address: {last_error}")


def reminder_email(settings: Settings, to: str, event: dict[str, Any], tz_name: str) -> EmailMessage:
    """Plain text and HTML parts: the task title, its due date in the user's zone, a link."""
    from html import escape

    from shared.domain.times import parse_datetime

    data = event["data"]
    due = data.get("due_date")
    if due and data.get("all_day"):  # a date alone: that calendar day wherever the person is
        due_text = dt.date.fromisoformat(str(due)[:10]).strftime("%a %d %b %Y (all day)")
    else:
        due_text = (
            parse_datetime(due).astimezone(zone(tz_name)).strftime("%a %d %b %Y, %H:%M %Z") if due else "no due date"
        )
    # One line: a header cannot hold a line break (rows stored before titles refused control characters).
    title = " ".join(str(data.get("task_title") or "a task").split())
    link = f"{settings.app_url.rstrip('/')}/#task-{data.get('task_id', '')}"
    message = EmailMessage()
    message["Subject"] = f"Reminder: {title}"
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Message-ID"] = f"<{event['event_id']}@taskflow>"
    message.set_content(f"Reminder: {title}\nDue: {due_text}\n\nOpen TaskFlow: {link}\n")
    message.add_alternative(
        f"<p><strong>Reminder:</strong> {escape(title)}</p><p>Due: {escape(due_text)}</p>"
        f'<p><a href="{escape(link)}">Open TaskFlow</a></p>',
        subtype="html",
    )
    return message


def send_email(settings: Settings, message: EmailMessage) -> None:
    """Send over SMTP_URL: smtp://user:pass@host:port (STARTTLS with ?starttls=true) or smtps:// (SSL)."""
    if not settings.smtp_url:
        raise RuntimeError("SMTP_URL is not set")
    url = urllib.parse.urlsplit(settings.smtp_url)
    query = urllib.parse.parse_qs(url.query)
    client: smtplib.SMTP
    if not url.hostname:  # a failed delivery (retried, then dead), not an AttributeError in the dispatcher
        raise RuntimeError("SMTP_URL has no host")
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(url.hostname, url.port or 465, timeout=10, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(url.hostname, url.port or 25, timeout=10)
    with client:
        if url.scheme == "smtp" and query.get("starttls", ["false"])[0] == "true":
            client.starttls(context=ssl.create_default_context())
        if url.username:
            client.login(urllib.parse.unquote(url.username), urllib.parse.unquote(url.password or ""))
        client.send_message(message)
