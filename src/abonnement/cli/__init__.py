"""The vendor's command line: `abonnement` (Typer). Every text it prints is localized (R16)."""
