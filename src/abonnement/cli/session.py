"""One CLI invocation's choices (language, output format, acting user, database) and the engine
they lead to. The root callback starts a fresh session for every invocation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from abonnement import i18n
from abonnement.app import Abonnement
from abonnement.config import Settings
from abonnement.services.context import Actor, Context

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Session:
    lang: str = i18n.DEFAULT
    json: bool = False
    as_email: str | None = None
    database_url: str | None = None
    _app: Abonnement | None = None
    _actor: Actor | None = None

    def settings(self) -> Settings:
        """Read from the environment on each invocation (not the cached settings), so tests and
        scripts can change the database between invocations in one process."""
        if self.database_url:
            return Settings(database_url=self.database_url)
        return Settings()

    def app(self) -> Abonnement:
        if self._app is None:
            self._app = Abonnement(self.settings())
        return self._app

    def actor(self) -> Actor:
        """The vendor operator, or the organization user named with --as, with their roles."""
        if self._actor is None:
            app = self.app()
            self._actor = app.operator if self.as_email is None else app.actor(self.as_email)
        return self._actor

    def run(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a use case as the acting user, in its own transaction."""
        return self.app().run(self.actor(), use_case, *args, **kwargs)

    def read(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a read-only use case as the acting user."""
        return self.app().read(self.actor(), use_case, *args, **kwargs)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None
        self._actor = None


_current = Session()


def current() -> Session:
    return _current


def begin(
    *, lang: str, json: bool = False, as_email: str | None = None, database_url: str | None = None
) -> Session:
    """Start an invocation with these choices, closing whatever the previous one left open."""
    global _current
    _current.close()
    _current = Session(lang=lang, json=json, as_email=as_email, database_url=database_url)
    return _current


def _(msgid: str, /, **context: object) -> str:
    """`msgid` in the invocation's language, its `{name}` placeholders filled (dates and money
    formatted for the language). Also the marker that extracts `msgid` into the catalogs."""
    return i18n.render(msgid, _current.lang, **context)
