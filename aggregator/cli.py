"""The command line: parses arguments, calls one library function, prints. Nothing else prints.

Errors the package raises on purpose become one line on stderr and exit code 1 (2 for usage,
3 for a poll where every due feed failed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from aggregator import __version__
from aggregator.config import CONFIG_ENV, config_path, load_config
from aggregator.errors import AggregatorError
from aggregator.model import Config, Copied, PollOutcome, PollReport
from aggregator.publish.terminal import (
    explain_lines,
    feed_json,
    feeds_table,
    format_story,
    json_array,
    overview_lines,
    poll_line,
    stories_csv,
    story_json,
)
from aggregator.supervisor import Supervisor

if TYPE_CHECKING:  # the command modules are imported when their command runs
    from aggregator.matching.clusterer import ClusterReport

EXIT_ERROR = 1
# `poll`: feeds were due and every one failed (offline, DNS, blocked): cron can tell "nothing
# works" from "some feeds failed" (exit 0).
EXIT_ALL_FAILED = 3


def _config(args: argparse.Namespace) -> Config:
    return load_config(config_path(args.config))


def _tty() -> bool:
    return sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


# -- poll / cluster / feeds -------------------------------------------------------------------


def cmd_poll(args: argparse.Namespace) -> int:
    from aggregator.ingest.poll import PollOptions
    from aggregator.jobs import run_poll

    config = _config(args)
    state = {"new": 0, "failed": 0}
    show = sys.stderr.isatty() and not args.verbose

    def progress(o: PollOutcome, done: int, total: int) -> None:
        state["new"] += o.new_articles
        state["failed"] += 0 if o.ok else 1
        if args.verbose:
            print(f"[{done}/{total}] {_outcome(o)}", file=sys.stderr)
        elif show:
            print(
                f"\rpolled {done}/{total} feeds, {state['new']} new articles, "
                f"{state['failed']} failed",
                end="",
                file=sys.stderr,
                flush=True,
            )

    report, clustered = run_poll(
        config, PollOptions(force=args.force), progress, cluster=not args.no_cluster
    )
    if show and report.outcomes:
        print(file=sys.stderr)
    print(f"poll: {poll_line(report)}")
    if clustered is not None:
        print(_cluster_line(clustered))
    return EXIT_ALL_FAILED if report.all_failed else 0


def _outcome(o: PollOutcome) -> str:
    """One feed's poll, for --verbose."""
    if not o.ok:
        return f"{o.url}: {o.error_kind}: {o.error}"
    return f"{o.url}: {'not modified' if o.not_modified else f'{o.new_articles} new'}"


def _cluster_line(r: ClusterReport) -> str:
    return (
        f"stories: {r.articles} articles clustered, {r.new_stories} new stories, "
        f"{r.updated_stories} updated, {r.merges} merged, {r.splits} split"
    )


def cmd_cluster(args: argparse.Namespace) -> int:
    from aggregator.jobs import follow_cluster, run_cluster

    config = _config(args)
    if not args.follow:
        print(_cluster_line(run_cluster(config)))
        return 0
    stop = _stop_on_signals()
    with Supervisor() as supervisor:
        follow_cluster(
            config,
            say=supervisor.say,
            report=lambda r: print(_cluster_line(r), flush=True),
            stop=stop,
            fallback=args.fallback,
            partition=args.partition,
            alive=supervisor.alive,
        )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from aggregator.ingest.poll import PollOptions
    from aggregator.jobs import run_worker

    every = args.report_every * 60.0
    period: list[PollOutcome] = []  # the polls since the last report
    due: float | None = None  # when the next report is: every minutes from the first poll
    supervisor = Supervisor()

    def progress(o: PollOutcome, done: int, total: int) -> None:
        nonlocal due
        if args.verbose:
            print(_outcome(o), file=sys.stderr, flush=True)
        period.append(o)
        if due is None:
            due = time.monotonic() + every
        elif time.monotonic() >= due:
            polls = poll_line(PollReport(tuple(period)))
            supervisor.say(f"worker: in the last {args.report_every:g} min: {polls}")
            period.clear()
            due = time.monotonic() + every

    with supervisor:
        report = run_worker(
            _config(args),
            PollOptions(),
            until_idle=args.until_idle,
            stop=_stop_on_signals(),
            progress=progress,
            alive=supervisor.alive,
            say=supervisor.say,
        )
    print(f"worker: {poll_line(report)}")
    return EXIT_ALL_FAILED if report.all_failed else 0


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set, so a service ends its current work cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_feeds(args: argparse.Namespace) -> int:
    from aggregator.jobs import feed_health

    rows = feed_health(_config(args))
    if args.failing:
        rows = [h for h in rows if h.failing]
    if args.json:
        sys.stdout.writelines(json_array(feed_json(h) for h in rows))
        return 0
    for line in feeds_table(rows, args.verbose, _tty()):
        print(line)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from aggregator.jobs import overview

    o = overview(_config(args))
    if args.json:
        print(json.dumps(asdict(o), indent=2, ensure_ascii=False))
        return 0
    for line in overview_lines(o, datetime.now(UTC)):
        print(line)
    return 0


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from aggregator.ingest import opml

    config_file = config_path(args.config)
    result = opml.import_file(config_file, Path(args.file))
    for line in result.refused:
        print(f"aggregator: refused {_one_line(line)}", file=sys.stderr)
    print(
        f"imported {len(result.added)} feeds into {config_file} ({result.already} already "
        f"there, {len(result.refused)} refused)"
    )
    return EXIT_ERROR if result.refused else 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    from aggregator.ingest import opml

    sys.stdout.write(opml.export(_config(args).feeds))
    return 0


# -- eval ---------------------------------------------------------------------------------------


def _number(low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: a number strictly between ``low`` and ``high``."""

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            x = float("nan")
        if not low < x < high:
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
        return x

    return parse


def _whole(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number, ``least`` or more."""

    def parse(value: str) -> int:
        if not value.strip().isdigit() or int(value) < least:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number, {least} or more")
        return int(value)

    return parse


def cmd_eval(args: argparse.Namespace) -> int:
    from aggregator.evaluate import run_eval

    result = run_eval(
        Path(args.file),
        args.level,
        args.window_hours,
        args.threshold,
        args.polls,
        args.partition_by,
    )
    if args.json:
        out = result.as_json()
        if args.mistakes:
            out.update(result.mistakes_json(args.mistakes))
        print(json.dumps(out, ensure_ascii=False))
        return 0
    s = result.scores
    print(f"{args.file}  level={args.level}")
    print(f"articles {s.articles}  gold stories {s.stories}  clusters {s.clusters}")
    print(
        f"pairwise  precision {s.pair_precision:.3f}  recall {s.pair_recall:.3f}  F1 {s.pair_f1:.3f}"
    )
    print(
        f"B-cubed   precision {s.bcubed_precision:.3f}  recall {s.bcubed_recall:.3f}  "
        f"F1 {s.bcubed_f1:.3f}"
    )
    print(f"ARI {s.ari:.3f}   {result.articles_per_second:.0f} articles/s")
    if args.mistakes:
        from aggregator.publish.terminal import mistakes_report

        for line in mistakes_report(
            result.merges, result.splits, result.ids, result.titles, args.mistakes
        ):
            print(line)
    return 0


# -- clusters -------------------------------------------------------------------------------------


def cmd_clusters(args: argparse.Namespace) -> int:
    from aggregator.jobs import explain, list_stories

    config = _config(args)
    if args.explain:
        found = explain(config, args.explain)
        if found.story.id != found.asked:
            print(f"{found.asked} was merged into {found.story.id}")
        if found.split_from is not None:
            print(f"{found.story.id} was split off {found.split_from}")
        for line in explain_lines(found.story):
            print(line)
        for part in found.split_off:
            print(f"split off it: {part}")
        return 0
    stories = list_stories(
        config, args.since, args.outlet, args.search, args.min_outlets, args.limit
    )
    if args.json:
        sys.stdout.writelines(json_array(story_json(s) for s in stories))
    elif args.csv:
        sys.stdout.write(stories_csv(stories))
    else:
        now = datetime.now(UTC)
        width = min(os.get_terminal_size().columns if sys.stdout.isatty() else 80, 120)
        if not stories:
            print("no stories match")
        for i, s in enumerate(stories, start=1):
            print(format_story(i, s, now, width, _tty()))
            print()
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from aggregator.jobs import copy_database

    started = time.monotonic()
    total = 0
    show = sys.stderr.isatty()
    counting = False  # a table's count of rows so far is on the terminal's line

    def progress(c: Copied) -> None:
        nonlocal total, counting
        if not c.finished:
            if show:
                print(
                    f"\r{c.table}: {c.rows:,} of {c.total:,} rows",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
                counting = True
            return
        if counting:
            print(file=sys.stderr)
            counting = False
        total += c.rows
        cleaned = f" ({c.cleaned:,} without the NUL characters of their texts)" if c.cleaned else ""
        print(f"{c.table}: {c.rows:,} rows{cleaned}", flush=True)

    where, _ = copy_database(_config(args), args.target, progress)
    print(
        f"copied {total:,} rows into {where} in {time.monotonic() - started:.1f} s; to use it, "
        "set database in feeds.toml (or $AGGREGATOR_DATABASE_URL) to it"
    )
    return 0


# -- build / email / run / demo ----------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from aggregator.publish.site import build_site

    config = _config(args)
    out = build_site(config, Path(args.out) if args.out else None)
    print(f"site built in {out}")
    return 0


def cmd_email(args: argparse.Namespace) -> int:
    from aggregator.publish.sending import send_digest

    result = send_digest(
        _config(args), dry_run=args.dry_run, out_dir=Path(args.out) if args.out else None
    )
    print(result.message)
    return 0 if result.ok else EXIT_ERROR


def cmd_run(args: argparse.Namespace) -> int:
    from aggregator.jobs import run_all

    config = _config(args)
    code = 0
    for line, ok in run_all(
        config,
        poll=not args.skip_poll,
        cluster=not args.skip_cluster,
        build=not args.skip_build,
        email=not args.skip_email,
    ):
        print(line)
        code = code if ok else EXIT_ERROR
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    from aggregator.demo import run_demo

    for line in run_demo(Path(args.out) if args.out else None):
        print(line, flush=True)
    return 0


# -- parser -------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, as every other error (its sub-commands are of this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="aggregator",
        description="Poll news feeds, group every outlet's report of an event into one story, "
        "and publish the stories as a site, an e-mail digest or a terminal list.",
    )
    p.add_argument("--version", action="version", version=f"aggregator {__version__}")
    p.add_argument(
        "--config",
        metavar="PATH",
        help=f"feeds.toml to use (default: ${CONFIG_ENV} or ./feeds.toml)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser(
        "poll",
        help="fetch every due feed, store new articles, cluster them",
        description="Fetch every due feed, store new articles, cluster them. Prints one line: "
        "feeds ok and failed (failures by kind, an example each), new articles, and the feeds "
        "left waiting with the time of the next attempt.",
        epilog=f"Exit status: 0 when the poll ran (some feeds may have failed), "
        f"{EXIT_ALL_FAILED} when feeds were due and every one failed, {EXIT_ERROR} on an "
        "error (bad config, locked database), 2 on a usage error.",
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="poll every feed now, ignoring schedules (not Retry-After, not gone feeds)",
    )
    s.add_argument("--verbose", "-v", action="store_true", help="log each feed")
    s.add_argument("--no-cluster", action="store_true", help="store articles without clustering")
    s.set_defaults(fn=cmd_poll)

    s = sub.add_parser(
        "worker",
        help="poll as one of many pollers sharing a PostgreSQL store",
        description="Claim due feeds in batches and poll them, beside any number of other "
        'workers on any machine (README, "Running on several machines"). A feed claimed is '
        "leased, the lease renewed while it waits for a place at a busy host; a worker that dies "
        "leaves its feeds to come due again when their leases end, and one that is stopped "
        "gives back those it had not polled. A host takes at most per_host "
        "requests at once across all workers, and a worker claims at most twice per_host of "
        "one host's feeds at once (a feed counts at the host its polls go to). Claims are "
        "timed by each worker's clock: a worker whose clock is more than 10 s off the "
        "database server's says so as it starts. It says which feeds.toml and which "
        "database it polls for, then runs until SIGTERM or SIGINT (it stops "
        "within a fraction of a second), printing a line of what its polls did every "
        "--report-every minutes, and one line as poll does when it stops. "
        "Under systemd (Type=notify) it says when it is ready and that it is alive, for "
        "WatchdogSec=.",
    )
    s.add_argument(
        "--until-idle", action="store_true", help="stop once no feed is due instead of waiting"
    )
    s.add_argument(
        "--report-every",
        type=_number(0.0, 1440.0, "a number of minutes above 0, below 1440"),
        default=10.0,
        metavar="MINUTES",
        help="print a line of what the polls of the last MINUTES did, as poll does (default 10)",
    )
    s.add_argument("--verbose", "-v", action="store_true", help="log each feed")
    s.set_defaults(fn=cmd_worker)

    s = sub.add_parser("cluster", help="assign articles not yet clustered to stories")
    s.add_argument(
        "--follow",
        action="store_true",
        help="PostgreSQL: keep clustering as pollers store articles, as the one clusterer "
        "(a second one waits as a standby and takes over when the first ends); under systemd "
        "(Type=notify) it says when it is ready and that it is alive, for WatchdogSec=",
    )
    s.add_argument(
        "--fallback",
        type=_number(0.1, 86400.0, "a number of seconds from 0.1 to 86400"),
        metavar="SECONDS",
        help="with --follow: look for work this often when no poller's notification comes "
        "(default 60)",
    )
    s.add_argument(
        "--partition",
        metavar="LANGUAGE",
        help='with --follow and partition_by = "language": cluster the feeds of this '
        "language (und: feeds without one), one clusterer per language",
    )
    s.set_defaults(fn=cmd_cluster)

    s = sub.add_parser("feeds", help="list the feeds with their health; import/export OPML")
    s.add_argument("--json", action="store_true", help="machine-readable list")
    s.add_argument("--verbose", "-v", action="store_true", help="show each failing feed's error")
    s.add_argument(
        "--failing", action="store_true", help="only the feeds whose last poll failed (not gone)"
    )
    s.set_defaults(fn=cmd_feeds)
    fsub = s.add_subparsers(dest="feeds_command", metavar="ACTION")
    f = fsub.add_parser("import", help="append the feeds of an OPML file to feeds.toml")
    f.add_argument("file", help="OPML file")
    f.set_defaults(fn=cmd_feeds_import)
    f = fsub.add_parser("export", help="print the configured feeds as OPML")
    f.set_defaults(fn=cmd_feeds_export)

    s = sub.add_parser(
        "status",
        help="the pipeline at a glance: feeds due and failing, articles waiting for clustering",
        description="Whether the pollers and the clusterer keep up, read from the database (so "
        "from any machine): on PostgreSQL the workers connected; the feeds listed, failing (by "
        "kind), gone and due now (not yet taken by a poller, with how long the longest has "
        "waited); the articles stored; those waiting for the clusterer (with how long the "
        "longest has waited; on PostgreSQL for each partition, with who holds its clusterer's "
        "lock); and the last digest sent.",
    )
    s.add_argument("--json", action="store_true", help="as JSON, for monitoring")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("eval", help="score the clustering on a labelled JSONL file")
    s.add_argument(
        "--partition-by",
        choices=("language", "outlet"),
        help='cluster each value of this field on its own, as partition_by = "language" '
        "does (outlet: the most a split can cost)",
    )
    s.add_argument("file", help="JSONL with id, story, title, text, outlet, published, url")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument(
        "--level",
        choices=("stories", "copies"),
        default="stories",
        help="score stories (default) or copies of the same text",
    )
    s.add_argument(
        "--threshold",
        type=_number(0.0, 1.0, "a number between 0 and 1"),
        help="story threshold to try, used as given (default: the built-in one, lower for "
        "files under 800 articles; set `story_threshold` in feeds.toml to use another)",
    )
    s.add_argument(
        "--window-hours",
        type=_number(0.0, 8760.0, "a number of hours from 0 to 8760"),
        default=72.0,
        help="time window in hours for dated articles (default 72)",
    )
    s.add_argument(
        "--polls",
        type=_whole(1),
        metavar="N",
        help="feed the file as a stream of polls of N articles, each clustered afresh as "
        "`aggregator poll` does (default: all at once, in batches of up to 2,000)",
    )
    s.add_argument(
        "--mistakes",
        type=_whole(0),
        default=0,
        metavar="N",
        help="also list the N costliest merges and splits, article by article",
    )
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser(
        "clusters",
        help="list the current stories, ranked",
        description="List the current stories, ranked as the site and the digest rank them: "
        "stories told by two or more outlets first, then single-outlet items (hide them with "
        "--min-outlets 2); within each, rank = independent outlets x 0.5^(age / 12 h), age "
        "from the story's last update to the newest article in the database.",
    )
    s.add_argument("--since", help="only stories updated since: 24h, 3d, or a date")
    s.add_argument(
        "--min-outlets",
        type=_whole(1),
        default=1,
        metavar="N",
        help="only stories told by at least N outlets",
    )
    s.add_argument("--outlet", metavar="NAME", help="only stories this outlet covered")
    s.add_argument("--search", metavar="TEXT", help="full-text search over stored articles")
    s.add_argument(
        "--limit", type=_whole(1), default=30, metavar="N", help="at most N stories (30)"
    )
    s.add_argument(
        "--explain",
        metavar="ID",
        help="why each article is in story ID (old ids of merged stories resolve; splits are "
        "shown both ways)",
    )
    g = s.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="JSON (see README for the contract)")
    g.add_argument("--csv", action="store_true", help="CSV, one row per article")
    s.set_defaults(fn=cmd_clusters)

    s = sub.add_parser(
        "copy",
        help="copy the whole database into an empty one (SQLite to PostgreSQL, or back)",
        description="Copy everything the configured database keeps (feeds and their polling "
        "state, articles, stories, digests, the clusterer's queue) into TARGET, a new or empty "
        "database: a PostgreSQL URL or a SQLite file's path. Stop the daily job, the workers "
        "and the clusterer first; then point feeds.toml (or $AGGREGATOR_DATABASE_URL) at "
        "TARGET, and everything carries on from where it was. The source is left as it is; a "
        "copy that fails leaves TARGET empty.",
    )
    s.add_argument("target", metavar="TARGET", help="postgresql://... or a path")
    s.set_defaults(fn=cmd_copy)

    s = sub.add_parser("build", help="render the static site from the database")
    s.add_argument("--out", metavar="DIR", help="output folder (default: settings.site_dir)")
    s.set_defaults(fn=cmd_build)

    s = sub.add_parser("email", help="send the digest of stories since the last one")
    s.add_argument("--dry-run", action="store_true", help="write an .eml file instead of sending")
    s.add_argument("--out", metavar="DIR", help="folder for --dry-run (default: settings.mail_dir)")
    s.set_defaults(fn=cmd_email)

    s = sub.add_parser(
        "run",
        help="poll, cluster, build and send the digest when due (for cron)",
        description="The daily job: poll, cluster, build the site and send the digest when due, "
        "one line per stage; a stage's failure does not stop the next.",
        epilog=f"Exit status: 0 when every stage that ran succeeded, {EXIT_ERROR} when one "
        "failed (a poll where feeds were due and every one failed counts as failed).",
    )
    for stage in ("poll", "cluster", "build", "email"):
        s.add_argument(f"--skip-{stage}", action="store_true", help=f"skip the {stage} stage")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("demo", help="the whole pipeline offline on bundled real feeds")
    s.add_argument(
        "--out",
        metavar="DIR",
        help="where to put everything (default: a new "
        "folder under the system's temporary directory)",
    )
    s.set_defaults(fn=cmd_demo)
    return p


def _one_line(message: str) -> str:
    """An error as one line, whatever a feed or a file put in it."""
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except AggregatorError as e:
        print(f"aggregator: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("aggregator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `aggregator clusters | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # the machine refused (a path, a permission, a full disk): not a bug
        where = f"{e.filename}: " if e.filename else ""
        print(f"aggregator: {_one_line(where + str(e.strerror or e))}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
