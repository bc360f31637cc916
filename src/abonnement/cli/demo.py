"""`abonnement demo`: a demo catalog and organizations that each play one seed scenario, told
step by step in the chosen language, every refusal with its localized message and remedy.

The demo writes to the configured database. It reuses its catalog, and makes new organizations
(with a run number) when the demo organizations exist already. It drives its own clock so the
cancellation window of an annual offer can pass (R8).

Here: `Demo`, which runs and tells the steps, and the command. The catalog, the organizations
and the reusable steps are in `demo_world`; the scenarios themselves in `demo_scenarios`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.rule import Rule
from rich.text import Text

from abonnement import i18n
from abonnement.app import Abonnement
from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.clock import FixedClock
from abonnement.domain.errors import N_, AbonnementError
from abonnement.services import subscriptions
from abonnement.services.context import Actor, Context
from abonnement.services.schemas import SubscriptionView
from abonnement.store import migrate

P = ParamSpec("P")
T = TypeVar("T")

Outcome = Literal["ok", "refused"]


class Step(BaseModel):
    """One thing the demo did, as it printed it, for --json."""

    scenario: int
    rules: list[str]
    actor: str
    role: str
    action: str
    expected: Outcome
    outcome: Outcome
    as_expected: bool
    result: str
    remedy: str | None = None
    code: str | None = None
    data: Any = None


class ScenarioAbortedError(Exception):
    """A step a scenario depends on did not succeed; the demo goes on with the next scenario."""


# -- telling it ------------------------------------------------------------------------------------
class Demo:
    """Runs use cases as steps: each one printed as it happens (or kept for --json), refusals
    with their localized message and remedy, and checked against what the scenario expects."""

    def __init__(
        self,
        app: Abonnement,
        clock: FixedClock,
        *,
        live: bool,
        invoices_dir: Path = Path("var/invoices"),
    ) -> None:
        self.invoices_dir = invoices_dir
        self.app = app
        self.clock = clock
        self.live = live
        self.steps: list[Step] = []
        self.scenarios: list[dict[str, Any]] = []
        self.admin_emails: list[str] = []  # who can sign in to the admin center
        self.scenario = 0
        self.rules: list[str] = []

    @property
    def lang(self) -> str:
        return current().lang

    # scenarios ----------------------------------------------------------------------------------
    def begin(
        self, title: str, rules: Sequence[str], organization: str, number: int | None = None
    ) -> None:
        self.scenario = self.scenario + 1 if number is None else number
        self.rules = list(rules)
        self.scenarios.append(
            {
                "number": self.scenario,
                "title": title,
                "rules": self.rules,
                "organization": organization,
                "first_step": len(self.steps),
            }
        )
        if self.live:
            heading = f"{self.scenario}. {title}" + (f" ({', '.join(rules)})" if rules else "")
            o.out().print()
            o.out().print(Rule(Text(heading, style="bold cyan"), align="left"))
            o.out().print(Text(organization, style="dim"), soft_wrap=True)

    def show(self, *renderables: Any) -> None:
        if self.live:
            o.out().print(*renderables)

    def actor_label(self, actor: Actor) -> tuple[str, str]:
        if actor.is_operator:
            return "operator", _("Vendor operator")
        role = sorted(actor.roles)[0].value if actor.roles else "user"
        return role, f"{o.role(role)} {actor.label}"

    # steps --------------------------------------------------------------------------------------
    def record(
        self,
        actor: Actor,
        action: str,
        *,
        expect: Outcome,
        outcome: Outcome,
        result: str,
        remedy: str | None = None,
        code: str | None = None,
        data: Any = None,
    ) -> Step:
        role, label = self.actor_label(actor)
        step = Step(
            scenario=self.scenario,
            rules=self.rules,
            actor=actor.label,
            role=role,
            action=action,
            expected=expect,
            outcome=outcome,
            as_expected=expect == outcome,
            result=result,
            remedy=remedy,
            code=code,
            data=o.jsonable(data),
        )
        self.steps.append(step)
        if self.live:
            self._print(step, label)
        return step

    def _print(self, step: Step, actor: str) -> None:
        console = o.out()
        if not step.as_expected:
            mark, style = "!", "bold red"
        elif step.outcome == "ok":
            mark, style = "✔", "green"
        else:
            mark, style = "✘", "yellow"
        line = Text(f" {mark} ", style=style)
        line.append(step.action, style="bold")
        line.append(f"  · {actor}", style="dim")
        console.print(line, soft_wrap=True)
        if step.outcome == "refused":
            suffix = _("(refused, as expected)") if step.as_expected else _("(refused: unexpected)")
            console.print(Text(f"   → {step.result} {suffix}", style=style), soft_wrap=True)
            if step.remedy:
                remedy = _("What you can do: {remedy}", remedy=step.remedy)
                console.print(Text(f"     {remedy}", style="yellow"), soft_wrap=True)
            console.print(Text(f"     [{step.code}]", style="dim"), soft_wrap=True)
        else:
            text = step.result
            if not step.as_expected:
                text += " " + _("(it should have been refused)")
            console.print(Text(f"   → {text}", style=style), soft_wrap=True)

    def do(
        self,
        actor: Actor,
        action: str,
        tell: Callable[[T], str],
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a use case that should succeed and tell its result with `tell`. If it is
        refused after all, the refusal is shown and the scenario stops."""
        try:
            result = self.app.run(actor, use_case, *args, **kwargs)
        except AbonnementError as exc:
            self._refusal(actor, action, exc, expect="ok")
            raise ScenarioAbortedError from exc
        self.record(actor, action, expect="ok", outcome="ok", result=tell(result), data=result)
        return result

    def refused(
        self,
        actor: Actor,
        action: str,
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> None:
        """Run a use case that the rules refuse, and show the localized refusal."""
        try:
            result = self.app.run(actor, use_case, *args, **kwargs)
        except AbonnementError as exc:
            self._refusal(actor, action, exc, expect="refused")
            return
        self.record(
            actor, action, expect="refused", outcome="ok", result=_("It was done."), data=result
        )

    def _refusal(self, actor: Actor, action: str, exc: AbonnementError, expect: Outcome) -> None:
        message, remedy = i18n.localize_refusal(exc, self.lang)
        self.record(
            actor,
            action,
            expect=expect,
            outcome="refused",
            result=message,
            remedy=remedy,
            code=exc.code.value,
            data={"context": exc.context},
        )

    def note(self, action: str, text: str, data: Any = None) -> None:
        """A step that is not a use case (moving the demo clock)."""
        self.record(self.app.operator, action, expect="ok", outcome="ok", result=text, data=data)

    # reading ------------------------------------------------------------------------------------
    def read(
        self,
        actor: Actor,
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return self.app.read(actor, use_case, *args, **kwargs)

    def availability(self, actor: Actor, sub: SubscriptionView) -> None:
        """R5 as data: can Buy licenses and Remove licenses be used, and why not."""
        view = self.app.read(actor, subscriptions.get, sub.id)
        avail = view.availability
        reasons = [
            {"action": action, "code": r.code, "message": m, "remedy": rem}
            for action, items in (("buy", avail.buy_reasons), ("remove", avail.remove_reasons))
            for r in items
            for m, rem in [o.reason(r)]
        ]
        self.record(
            actor,
            _("Check Buy licenses and Remove licenses on subscription #{id}", id=sub.id),
            expect="ok",
            outcome="ok",
            result=_(
                "Buy licenses: {buy}. Remove licenses: {remove}.",
                buy=_("available") if avail.can_buy else _("unavailable"),
                remove=_("available") if avail.can_remove else _("unavailable"),
            ),
            data={"availability": avail, "reasons": reasons},
        )
        self.show(o.availability_table(avail))

    # clock --------------------------------------------------------------------------------------
    def set_clock(self, at: datetime, action: str) -> None:
        self.clock.set(at)
        self.note(action, _("The demo clock says {date}.", date=at.date()), {"now": at})

    # summary ------------------------------------------------------------------------------------
    def summary(self) -> None:
        rows = []
        for i, scenario in enumerate(self.scenarios):
            end = self.scenarios[i + 1]["first_step"] if i + 1 < len(self.scenarios) else None
            steps = self.steps[scenario["first_step"] : end]
            good = all(s.as_expected for s in steps)
            rows.append(
                (
                    scenario["number"],
                    scenario["title"],
                    scenario["organization"],
                    ", ".join(scenario["rules"]),
                    len(steps),
                    sum(1 for s in steps if s.outcome == "refused"),
                    Text("✔", style="green") if good else Text("!", style="bold red"),
                )
            )
        o.out().print()
        o.show(
            o.table(
                _("Summary"),
                [
                    "#",
                    _("Scenario"),
                    _("Organization"),
                    _("Rules"),
                    _("Steps"),
                    _("Refused"),
                    _("As expected"),
                ],
                rows,
            )
        )


def command(
    lang: str | None = typer.Option(
        None, "--lang", help=N_("Language of the story: en, nb, nl or da.")
    ),
    invoices_dir: Path = typer.Option(
        Path("var/invoices"), "--invoices-dir", help=N_("Where the demo writes invoice PDFs.")
    ),
    months: int = typer.Option(
        0,
        "--months",
        min=0,
        max=120,
        help=N_("Then move the demo organizations this many months ahead on test clocks."),
    ),
) -> None:
    from abonnement.cli.demo_scenarios import play
    from abonnement.cli.demo_time import last_organization, play_months

    session = current()
    if lang is not None:
        try:
            session.lang = i18n.normalize_locale(lang)
        except ValueError:
            raise typer.BadParameter(_("Use en, nb, nl or da."), param_hint="--lang") from None
    settings = session.settings()
    migrate.upgrade(settings.database_url)
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    app = Abonnement(settings, clock=clock)
    try:
        demo = Demo(app, clock, live=not session.json, invoices_dir=invoices_dir)
        before = demo.read(app.operator, last_organization)
        play(demo)
        if months:
            play_months(demo, months, before)
    finally:
        app.close()
    if session.json:
        o.print_json(demo.steps)
    else:
        demo.summary()
        failed = sum(1 for s in demo.steps if not s.as_expected)
        if failed:
            o.say(_("Steps that did not go as expected: {count}.", count=failed), "bold red")
        else:
            o.say(_("All {count} steps went as expected.", count=len(demo.steps)))
        if demo.admin_emails:
            from abonnement.cli.demo_world import DEMO_PASSWORD

            o.say(
                _(
                    "Admin center: run 'abonnement serve', open http://127.0.0.1:8000/admin and "
                    "sign in as {email} (or any demo admin) with the password {password}.",
                    email=demo.admin_emails[0],
                    password=DEMO_PASSWORD,
                ),
                "bold",
            )
    if any(not s.as_expected for s in demo.steps):
        raise typer.Exit(1)
