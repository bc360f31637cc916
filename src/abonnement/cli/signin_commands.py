"""Passwords for the admin center: `abonnement user set-password` for organization users and
`abonnement operator set-password` for the vendor's operator view. The password is asked for
twice without echo, or read from standard input with --stdin (for scripts)."""

from __future__ import annotations

import sys

import typer

from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.services import signin

operator = typer.Typer(
    help=N_("The vendor's operator sign-in for the admin center's operator view."),
    no_args_is_help=True,
)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt(
        _("New password"), hide_input=True, confirmation_prompt=_("Repeat the password")
    )
    return value


def user_set_password(
    email: str = typer.Argument(..., help=N_("The user's email address.")),
    stdin: bool = typer.Option(
        False, "--stdin", help=N_("Read the password from standard input instead of asking.")
    ),
) -> None:
    password = _password(stdin)
    current().run(signin.set_user_password, email, password)
    o.emit(
        {"email": email, "password_set": True},
        lambda: o.say(_("{email} can now sign in to the admin center at /admin.", email=email)),
    )


@operator.command("set-password", help=N_("Set the password of an operator sign-in."))
def operator_set_password(
    login: str = typer.Argument("operator", help=N_("The operator's sign-in name.")),
    stdin: bool = typer.Option(
        False, "--stdin", help=N_("Read the password from standard input instead of asking.")
    ),
) -> None:
    password = _password(stdin)
    current().run(signin.set_operator_password, login, password)
    o.emit(
        {"login": login, "password_set": True},
        lambda: o.say(_("The operator {login} can now sign in.", login=login)),
    )
