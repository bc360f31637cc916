"""The pure domain: money, periods, proration, catalog, subscriptions, licensing and policies.

Nothing in this package imports a database, a web framework or a clock. Functions take facts and
return decisions; most of the engine's tests live here and need no database.
"""
