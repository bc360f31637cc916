"""`abonnement serve` (the REST API under uvicorn) and `abonnement apikey`: making, listing and
revoking API keys on the server itself (the first operator key comes from here)."""

from __future__ import annotations

import os

import typer

from abonnement import i18n
from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_, Code, error
from abonnement.services import apikeys
from abonnement.services.apikeys import ApiKeyCreatedView, ApiKeyView, InsecureSecretError
from abonnement.services.context import Context

apikey = typer.Typer(
    help=N_("API keys for the REST API: make (shown once), list, revoke."), no_args_is_help=True
)

_KIND = {"operator": N_("operator"), "user": N_("user")}
#: Seconds a `serve --workers` process may take to answer uvicorn's health check.
WORKER_HEALTHCHECK_S = 60


def _pepper() -> bytes:
    """The server secret, or the refusal to use a placeholder one in production."""
    try:
        return apikeys.server_secret(current().settings())
    except InsecureSecretError as exc:
        o.report_error(
            "insecure_secret_key",
            500,
            {"problem": str(exc)},
            _("The server secret can't be used: {problem}", problem=str(exc)),
            _(
                "Set ABONNEMENT_SECRET_KEY to a random value of at least 32 characters, e.g. "
                "the output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            ),
        )
        raise typer.Exit(o.EXIT_REFUSED) from None


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help=N_("Address to listen on.")),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help=N_("Port to listen on.")),
    workers: int = typer.Option(
        1, "--workers", min=1, help=N_("Number of server processes sharing the port.")
    ),
    access_log: bool = typer.Option(
        True,
        "--access-log/--no-access-log",
        help=N_("Log one line per request (off behind a proxy that logs them, or under load)."),
    ),
) -> None:
    import uvicorn

    _pepper()  # refuse a placeholder secret before anything listens; make the dev one once
    session = current()
    if session.database_url:
        # The worker processes read their settings from the environment.
        os.environ["ABONNEMENT_DATABASE_URL"] = session.database_url
    if session.settings().webhooks_deliver:  # ABONNEMENT_WEBHOOKS_DELIVER=true
        from abonnement.cli.webhook_commands import start_background

        start_background(session.settings())
        o.say(_("Delivering webhooks from this process too."))
    o.say(
        _(
            "Serving the API on http://{host}:{port} (reference: /docs).",
            host=host,
            port=port,
        )
    )
    uvicorn.run(
        "abonnement.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        access_log=access_log,
        # A worker answers the supervisor's health check from a thread of its own; on a busy
        # machine its first answer (after importing the app) can take longer than uvicorn's 5 s,
        # and a worker killed for it is started again, and killed again, without end.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )


def _keys_table(views: list[ApiKeyView]) -> object:
    return o.table(
        _("API keys"),
        [
            _("ID"),
            _("Kind"),
            _("Label"),
            _("Organization"),
            _("User"),
            _("Last used"),
            _("Revoked"),
        ],
        [
            (
                v.id,
                i18n.gettext(o.lang(), _KIND[v.kind]),
                v.label,
                v.organization_id or "-",
                v.user_id or "-",
                o.moment(v.last_used_at) if v.last_used_at else "-",
                o.moment(v.revoked_at) if v.revoked_at else "-",
            )
            for v in views
        ],
    )


def _user_key(ctx: Context, user: str, label: str, pepper: bytes) -> ApiKeyCreatedView:
    """A key for the user named by id or e-mail address."""
    if user.isdigit():
        user_id = int(user)
    else:
        row = ctx.uow.users.by_email(user)
        if row is None:
            raise error(Code.NOT_FOUND, entity="user", id=user)
        user_id = row.id
    return apikeys.create_user_key(ctx, user_id, label=label, pepper=pepper)


@apikey.command("create", help=N_("Make an API key. The key is shown once: keep it safe."))
def create(
    label: str = typer.Option(..., "--label", help=N_("What the key is for.")),
    operator: bool = typer.Option(
        False, "--operator", help=N_("An operator key (vendor scope), made as the local operator.")
    ),
    user: str | None = typer.Option(
        None,
        "--user",
        metavar="EMAIL|ID",
        help=N_("The organization user the key acts as, with their roles."),
    ),
) -> None:
    if operator == (user is not None):
        o.report_error(
            "invalid_input",
            422,
            {"field": "--operator/--user"},
            _("Give either --operator or --user."),
            None,
        )
        raise typer.Exit(o.EXIT_INVALID)
    pepper = _pepper()
    if operator:
        view = current().run(apikeys.create_operator_key, label=label, pepper=pepper)
    else:
        assert user is not None
        view = current().run(_user_key, user, label, pepper)

    def show() -> None:
        o.say(_("Made API key {id} ({label}).", id=view.id, label=view.label))
        o.say(_("This is the only time the key is shown. Keep it secret:"), "yellow")
        o.say(view.key, "bold")

    o.emit(view, show)


@apikey.command("list", help=N_("List API keys (never their secrets)."))
def list_keys(
    org: int | None = typer.Option(None, "--org", help=N_("Only this organization's keys.")),
) -> None:
    views = current().read(apikeys.list_keys, org)
    o.emit(views, lambda: o.show(_keys_table(views)))


@apikey.command("revoke", help=N_("Revoke an API key; it stops working at once."))
def revoke(key_id: str = typer.Argument(..., metavar="KEY_ID", help=N_("The key's id."))) -> None:
    view = current().run(apikeys.revoke, key_id)
    o.emit(view, lambda: o.say(_("Revoked API key {id}.", id=view.id)))
