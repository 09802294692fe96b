"""`aggregator run`: the daily job for cron. Each stage reports one line; failures don't stop
later stages, and the exit code says whether every stage that ran succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from .digest_run import send_digest
from .errors import AggregatorError
from .model import Config
from .pipeline import run_cluster, run_poll
from .poll import PollOptions
from .site import build_site


def run_all(
    config: Config, poll: bool = True, cluster: bool = True, build: bool = True, email: bool = True
) -> Iterator[tuple[str, bool]]:
    if poll:
        try:
            report, _ = run_poll(config, PollOptions(), cluster=False)
            yield (
                f"poll: {report.ok} feeds ok, {report.failed} failed, "
                f"{report.new_articles} new articles",
                True,
            )
        except AggregatorError as e:
            yield f"poll: failed: {e}", False
    if cluster:
        try:
            r = run_cluster(config)
            yield (
                f"cluster: {r.articles} articles, {r.new_stories} new stories, "
                f"{r.updated_stories} updated",
                True,
            )
        except AggregatorError as e:
            yield f"cluster: failed: {e}", False
    if build:
        try:
            yield f"build: site at {build_site(config)}", True
        except AggregatorError as e:
            yield f"build: failed: {e}", False
    if email:
        if not config.email.recipients and not config.email.maildir:
            yield "email: no recipients configured; skipped", True
        elif datetime.now(UTC).hour < config.email.send_hour:
            yield f"email: not due before {config.email.send_hour:02d}:00 UTC", True
        else:
            try:
                result = send_digest(config)
                yield f"email: {result.message}", result.ok
            except AggregatorError as e:
                yield f"email: failed: {e}", False
