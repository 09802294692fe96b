"""`aggregator email`: build the digest and deliver it exactly once per list and period.

A digest record moves pending -> sending -> sent. The message (with its Message-ID) is stored
before the first attempt, so a run after a crash re-sends the very same message, never a new one;
a run that finds the period already sent does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.errors import MailError, PublishError
from aggregator.model import Config, DigestRecord, StoryQuery
from aggregator.publish import mail
from aggregator.publish.digest import choose
from aggregator.publish.ranking import current_stories
from aggregator.store import open_db
from aggregator.store.deliveries import claim, get, last_sent, mark, save_pending
from aggregator.store.listing import first_linked
from aggregator.times import iso

# The first digest of a list covers the last day.
FIRST_DIGEST_SPAN = timedelta(days=1)
# A run that took a digest to send and said nothing since is taken to have died mid-send.
SENDING_STALE = timedelta(minutes=15)


@dataclass(frozen=True)
class DigestResult:
    ok: bool
    sent: bool
    message: str


def send_digest(
    config: Config, dry_run: bool = False, out_dir: Path | None = None, now: datetime | None = None
) -> DigestResult:
    now = now or datetime.now(UTC)
    email = config.email
    period = now.strftime("%Y-%m-%d")
    db = open_db(config.settings.database, create=False)
    try:
        record = get(db, email.list_name, period)
        if record is not None and record.status == "sent":
            return DigestResult(
                True,
                False,
                f"digest for {period} already sent ({record.message_id}); nothing to do",
            )
        if record is None:
            prev = last_sent(db, email.list_name)
            since = prev.until if prev else iso(now - FIRST_DIGEST_SPAN)
            until = iso(now)
            stories = current_stories(db, StoryQuery(linked_since=since))
            first = first_linked(db, [s.id for s in stories])
            digest = choose(stories, first, period, since, until, config.settings.single_source)
            if digest.empty:
                return DigestResult(
                    True, False, f"no new or updated stories since {since}; no digest sent"
                )
            raw = mail.build(digest, email, config.settings.templates)
            if dry_run:
                return _dry_run(raw, out_dir or Path(config.settings.mail_dir), period)
            record = DigestRecord(
                email.list_name,
                period,
                "pending",
                mail.message_id(email, period),
                since,
                until,
                raw,
            )
            record = save_pending(db, record, now)
        elif dry_run:
            return _dry_run(record.message, out_dir or Path(config.settings.mail_dir), period)
        if not claim(db, record, now, stale=now - SENDING_STALE):
            return DigestResult(
                True, False, f"digest for {period} is sent by another run ({record.message_id})"
            )
        try:
            if email.maildir:
                mail.deliver_maildir(record.message, email.maildir)
            else:
                mail.send(record.message, email)
        except MailError as e:
            mark(db, record, "pending", now, str(e))
            return DigestResult(False, False, f"digest for {period} not sent: {e}")
        mark(db, record, "sent", now)
        target = email.maildir or f"{len(email.recipients)} recipient(s) via {email.smtp_host}"
        return DigestResult(
            True, True, f"digest for {period} sent to {target} ({record.message_id})"
        )
    finally:
        db.close()


def _dry_run(raw: bytes, out: Path, period: str) -> DigestResult:
    path = out / f"digest-{period}.eml"
    try:
        out.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    except OSError as e:
        raise PublishError(f"{out}: cannot write the digest there: {e.strerror or e}") from e
    return DigestResult(True, False, f"dry run: digest written to {path}")
