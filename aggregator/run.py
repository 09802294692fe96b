"""`aggregator run`: the daily job for cron. Each stage reports one line; failures don't stop
later stages, and the exit code says whether every stage that ran succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from .digest_run import send_digest
from .errors import AggregatorError
from .model import Config
from .pipeline import Clock, run_cluster, run_poll
from .poll import PollOptions
from .site import build_site
from .terminal import poll_line


def run_all(
    config: Config,
    poll: bool = True,
    cluster: bool = True,
    build: bool = True,
    email: bool = True,
    now: Clock = lambda: datetime.now(UTC),
) -> Iterator[tuple[str, bool]]:
    """Each stage's line and whether it succeeded (a poll where every due feed failed did not)."""
    if poll:
        try:
            report, _ = run_poll(config, PollOptions(now=now), cluster=False)
            yield f"poll: {poll_line(report)}", not report.all_failed
        except AggregatorError as e:
            yield f"poll: failed: {e}", False
    if cluster:
        try:
            r = run_cluster(config, now)
            yield (
                f"cluster: {r.articles} articles, {r.new_stories} new stories, "
                f"{r.updated_stories} updated",
                True,
            )
        except AggregatorError as e:
            yield f"cluster: failed: {e}", False
    if build:
        try:
            yield f"build: site at {build_site(config, now=now())}", True
        except AggregatorError as e:
            yield f"build: failed: {e}", False
    if email:
        if not config.email.recipients and not config.email.maildir:
            yield "email: no recipients configured; skipped", True
        elif now().hour < config.email.send_hour:
            yield f"email: not due before {config.email.send_hour:02d}:00 UTC", True
        else:
            try:
                result = send_digest(config, now=now())
                yield f"email: {result.message}", result.ok
            except AggregatorError as e:
                yield f"email: failed: {e}", False
