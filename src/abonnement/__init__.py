"""abonnement: a self-hostable subscription and seat-license commerce engine."""

__version__ = "0.1.0"
