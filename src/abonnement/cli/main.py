"""The `abonnement` command: global options, the error handler and the command groups.

    abonnement [--json] [--lang nb] [--as admin@contoso.example] [--database-url URL] GROUP ...

Refusals (`AbonnementError`) end the command with their localized message, remedy and code:
exit code 2 for invalid input, 1 for everything else; never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from abonnement import i18n
from abonnement.cli import (
    api_commands,
    bill_commands,
    catalog_commands,
    demo,
    invoice_commands,
    license_commands,
    org_commands,
    signin_commands,
    sub_commands,
    webhook_commands,
)
from abonnement.cli import output as o
from abonnement.cli.session import _, begin, current
from abonnement.config import Settings
from abonnement.domain.errors import N_, AbonnementError
from abonnement.services import audit as audit_service
from abonnement.store import migrate


class Lang(StrEnum):
    en = "en"
    nb = "nb"
    nl = "nl"
    da = "da"


def _requested_lang(args: Sequence[str]) -> str:
    """The language for help texts, known before the options are parsed: --lang, else
    ABONNEMENT_LOCALE, else English."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            value: str | None = args[i + 1]
        elif arg.startswith("--lang="):
            value = arg.partition("=")[2]
        else:
            continue
        try:
            return i18n.normalize_locale(value)
        except ValueError:
            break
    return _default_lang()


def _default_lang() -> str:
    try:
        return i18n.normalize_locale(os.environ.get("ABONNEMENT_LOCALE") or Settings().locale)
    except ValueError:
        return i18n.DEFAULT


def _localize_help(command: Any, lang: str) -> None:
    """Translate the help texts of a command tree (built afresh for every invocation)."""
    for attribute in ("help", "short_help"):
        text = getattr(command, attribute, None)
        if isinstance(text, str) and text:
            setattr(command, attribute, i18n.gettext(lang, text))
    for param in getattr(command, "params", ()):
        text = getattr(param, "help", None)
        if isinstance(text, str) and text:
            param.help = i18n.gettext(lang, text)
    for sub in getattr(command, "commands", {}).values():
        _localize_help(sub, lang)


class RootGroup(TyperGroup):
    """Localizes help before parsing and turns refusals into messages and exit codes."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        _localize_help(self, _requested_lang(args))
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AbonnementError as exc:
            message, remedy = i18n.localize_refusal(exc, current().lang)
            o.report_error(exc.code.value, exc.status, exc.context, message, remedy)
            raise typer.Exit(o.EXIT_INVALID if exc.status == 422 else o.EXIT_REFUSED) from None
        except (OperationalError, ProgrammingError) as exc:
            problem = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
            o.report_error(
                "database_unavailable",
                503,
                {"problem": problem},
                _("The database could not be used: {problem}", problem=problem),
                _(
                    "Check --database-url or ABONNEMENT_DATABASE_URL, and run "
                    "'abonnement db upgrade' to create the tables."
                ),
            )
            raise typer.Exit(o.EXIT_REFUSED) from None


app = typer.Typer(
    cls=RootGroup,
    name="abonnement",
    help=N_("Sell per-seat subscriptions to organizations: catalog, licenses, cancellations."),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    json_output: bool = typer.Option(
        False, "--json", help=N_("Print machine-readable JSON instead of tables.")
    ),
    lang: Lang | None = typer.Option(
        None, "--lang", help=N_("Language of the output (default: ABONNEMENT_LOCALE or en).")
    ),
    as_email: str | None = typer.Option(
        None,
        "--as",
        metavar="EMAIL",
        help=N_("Act as this organization user, with their admin roles (default: the vendor)."),
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        metavar="URL",
        help=N_("Database to use (default: ABONNEMENT_DATABASE_URL or ./var/abonnement.db)."),
    ),
) -> None:
    session = begin(
        lang=lang.value if lang else _default_lang(),
        json=json_output,
        as_email=as_email,
        database_url=database_url,
    )
    ctx.call_on_close(session.close)


# -- db ----------------------------------------------------------------------------------------
db = typer.Typer(help=N_("Create and upgrade the database tables."), no_args_is_help=True)
app.add_typer(db, name="db")


def _revision(url: str) -> str | None:
    """The database's Alembic revision; None for a SQLite file that doesn't exist (yet)."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and not Path(parsed.database).exists()
    ):
        return None
    return migrate.current(url)


@db.command("upgrade", help=N_("Upgrade the database to the newest version (Alembic head)."))
def db_upgrade() -> None:
    url = current().settings().database_url
    migrate.upgrade(url)
    revision = _revision(url)
    o.emit(
        {"revision": revision},
        lambda: o.say(_("The database is at the newest version ({revision}).", revision=revision)),
    )


@db.command("current", help=N_("Show the database's version."))
def db_current() -> None:
    revision = _revision(current().settings().database_url)
    if revision is None:
        o.emit(
            {"revision": None},
            lambda: o.say(
                _("The database has no tables yet; run 'abonnement db upgrade'."), "yellow"
            ),
        )
        return
    o.emit(
        {"revision": revision}, lambda: o.say(_("Database version: {revision}", revision=revision))
    )


# -- audit -------------------------------------------------------------------------------------
@app.command("audit", help=N_("Show the newest audit records: who changed what, and when."))
def audit(
    org: int | None = typer.Option(None, "--org", help=N_("Only this organization's records.")),
    limit: int = typer.Option(20, "--limit", help=N_("How many records to show.")),
) -> None:
    records = current().read(audit_service.list_records, org, limit)
    o.emit(
        records,
        lambda: o.show(
            o.table(
                _("Audit log"),
                [_("ID"), _("Time"), _("Organization"), _("Who"), _("Action"), _("Entity")],
                [
                    (
                        r.id,
                        o.moment(r.at),
                        r.organization_id or "-",
                        r.actor,
                        r.action,
                        f"{r.entity} {r.entity_id}",
                    )
                    for r in records
                ],
            )
        ),
    )


app.add_typer(catalog_commands.app, name="catalog")
app.add_typer(org_commands.org, name="org")
app.add_typer(org_commands.user, name="user")
org_commands.user.command(
    "set-password", help=N_("Set a user's password for the admin center (/admin).")
)(signin_commands.user_set_password)
app.add_typer(signin_commands.operator, name="operator")
app.add_typer(org_commands.payment, name="payment")
app.add_typer(sub_commands.app, name="sub")
app.add_typer(license_commands.license_app, name="license")
app.add_typer(license_commands.key, name="key")
app.add_typer(license_commands.callback, name="callback")
app.add_typer(invoice_commands.app, name="invoice")
app.command("demo", help=N_("Play the seed scenarios in a demo catalog and organizations."))(
    demo.command
)
app.command("serve", help=N_("Serve the REST API (/v1, /openapi.json, /docs) with uvicorn."))(
    api_commands.serve
)
app.add_typer(api_commands.apikey, name="apikey")
app.command("bill", help=N_("The billing run: renewals, trials, expiry, dunning, refunds."))(
    bill_commands.bill
)
app.add_typer(bill_commands.clock, name="clock")
app.add_typer(webhook_commands.webhook, name="webhook")
app.add_typer(webhook_commands.worker, name="webhooks")
