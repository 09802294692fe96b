"""Building and delivering the digest message: the only module that speaks SMTP.

One multipart/alternative message (plain text + HTML with inline styles, no scripts, no remote
images), a deterministic Message-ID per list and period, List-Unsubscribe when configured.
"""

from __future__ import annotations

import mailbox
import os
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate

from aggregator.errors import MailError
from aggregator.model import EmailSettings
from aggregator.publish import render
from aggregator.publish.digest import Digest

PASSWORD_ENV = "AGGREGATOR_SMTP_PASSWORD"
SMTP_TIMEOUT = 30.0


def message_id(settings: EmailSettings, period: str) -> str:
    domain = settings.sender.rpartition("@")[2] or "localhost"
    return f"<digest.{settings.list_name}.{period}@{domain}>"


def build(digest: Digest, settings: EmailSettings, template_dir: str | None) -> bytes:
    env = render.environment(template_dir)
    top = digest.top
    subject = f"{settings.subject_prefix} {digest.period}: {top.title if top else 'no new stories'}"
    sections = [
        (name, list(sec))
        for name, sec in (
            ("New stories", digest.new),
            ("Stories with new outlets", digest.updated),
            ("Single-source items", digest.singles),
        )
        if sec
    ]
    ctx = {
        "title": f"News digest, {digest.period}",
        "sections": sections,
        "footer": "Headlines from each outlet's feed, grouped by story by aggregator.",
        "unsubscribe": settings.unsubscribe_url,
    }
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = " ".join(subject.split())  # one line, whatever a stored title holds
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients) or settings.sender
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(settings, digest.period)
    if settings.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{settings.unsubscribe_url}>"
        if settings.unsubscribe_url.startswith("http"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(render.render(env, "digest.txt", ctx))
    msg.add_alternative(render.render(env, "digest.html", ctx), subtype="html")
    return msg.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def send(raw: bytes, settings: EmailSettings) -> None:
    """Deliver to every recipient; raise MailError if any is refused or the server fails."""
    if not settings.recipients:
        raise MailError("no recipients: set [email] recipients in feeds.toml")
    password = os.environ.get(PASSWORD_ENV)
    try:
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=SMTP_TIMEOUT,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                if password is None:
                    raise MailError(f"username set but {PASSWORD_ENV} is not")
                smtp.login(settings.username, password)
            refused = smtp.sendmail(settings.sender, list(settings.recipients), raw)
    except smtplib.SMTPRecipientsRefused as e:
        raise MailError(f"every recipient was refused: {', '.join(e.recipients)}") from e
    except (smtplib.SMTPException, OSError) as e:
        raise MailError(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {e}") from e
    if refused:
        raise MailError(f"refused recipients: {', '.join(refused)}")


def deliver_maildir(raw: bytes, path: str) -> str:
    box = mailbox.Maildir(path, create=True)
    return str(box.add(mailbox.MaildirMessage(raw)))
