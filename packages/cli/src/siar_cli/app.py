"""``siar``: the daily work with Siar from a terminal.

The five everyday commands sit at the top (``siar create``, ``list``, ``approve``, ``import``,
``export``); everything else is grouped: ``siar posts …``, ``siar campaigns …``,
``siar calendar …``, ``siar accounts …``, ``siar series …``, ``siar events …``, ``siar reports …``,
``siar surveys …``, ``siar audit``. Another group plugs in the same way
(``app.add_typer(dead_letters.app, name="dead-letters")``).

The token comes from ``SIAR_API_TOKEN`` or ``--token``; the services' addresses from
``SIAR_SCHEDULER_URL``, ``SIAR_PUBLISHER_URL``, ``SIAR_METRICS_URL`` and ``SIAR_FEEDBACK_URL``
(defaults: the ports ``make run`` uses)."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Annotated

import typer
from siar_runtime import zones

from . import render
from .client import Api, ApiError, CliError, Config

app = typer.Typer(
    name="siar",
    help="Siar from the terminal: write and schedule posts, review them, plan the calendar.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
posts_app = typer.Typer(help="Posts: write, review, cancel.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Campaigns and their hashtags.", no_args_is_help=True)
calendar_app = typer.Typer(help="The content calendar: views, gaps, import and export.", no_args_is_help=True)
accounts_app = typer.Typer(help="The platform accounts posts can go to.", no_args_is_help=True)
surveys_app = typer.Typer(help="Patron surveys: define, open, close, read the results.", no_args_is_help=True)
reports_app = typer.Typer(help="How posts did: top posts, campaigns and hashtags, audience, best hours.",
                          no_args_is_help=True)
app.add_typer(posts_app, name="posts")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(calendar_app, name="calendar")
app.add_typer(accounts_app, name="accounts")
app.add_typer(reports_app, name="reports")
app.add_typer(surveys_app, name="surveys")


@app.callback()
def options(
    ctx: typer.Context,
    token: Annotated[str | None, typer.Option("--token", envvar="SIAR_API_TOKEN", show_envvar=True,
                                              help="API token (a role of editor, reviewer or admin)")] = None,
    scheduler_url: Annotated[str | None, typer.Option("--scheduler-url", envvar="SIAR_SCHEDULER_URL",
                                                      show_envvar=True, help="The scheduler's address")] = None,
    publisher_url: Annotated[str | None, typer.Option("--publisher-url", envvar="SIAR_PUBLISHER_URL",
                                                      show_envvar=True, help="The publisher's address")] = None,
    metrics_url: Annotated[str | None, typer.Option("--metrics-url", envvar="SIAR_METRICS_URL",
                                                    show_envvar=True, help="The metrics service's address")] = None,
    feedback_url: Annotated[str | None, typer.Option("--feedback-url", envvar="SIAR_FEEDBACK_URL",
                                                     show_envvar=True, help="The feedback service's address")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", envvar="SIAR_TIMEZONE", show_envvar=True,
                                                 help="Zone for times without an offset (default Asia/Jakarta)")] = None,
) -> None:
    base = ctx.obj if isinstance(ctx.obj, Config) else Config()
    ctx.obj = replace(
        base,
        token=token or base.token,
        scheduler_url=scheduler_url or base.scheduler_url,
        publisher_url=publisher_url or base.publisher_url,
        metrics_url=metrics_url or base.metrics_url,
        feedback_url=feedback_url or base.feedback_url,
        timezone=zones.canonical(timezone) or base.timezone,  # --timezone WITA
    )


def config(ctx: typer.Context) -> Config:
    return ctx.obj if isinstance(ctx.obj, Config) else Config.from_env()


def api(ctx: typer.Context, service: str = "scheduler") -> Api:
    return Api(config(ctx), service)


def clear_errors(fn):
    """Problems from the API and unreachable services end the command with a message, no traceback."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            render.problem(exc.status, exc.problem)
            raise typer.Exit(1) from None
        except CliError as exc:
            render.errors.print(f"[bold red]\u2717[/] {exc}")
            raise typer.Exit(2) from None

    return run


def command(group: typer.Typer, name: str, *also: tuple[typer.Typer, str], **kwargs):
    """Register a command in ``group`` (and under other names, e.g. at the top level)."""

    def wrap(fn):
        safe = clear_errors(fn)
        group.command(name, **kwargs)(safe)
        for other, other_name in also:
            other.command(other_name, **kwargs)(safe)
        return fn

    return wrap
