#!/usr/bin/env bash
# Re-extract every user-facing string (R16) into src/abonnement/locales/messages.pot and merge it
# into the en, nb, nl and da catalogs (creating any that is missing).
#
#   scripts/update_catalogs.sh          # from anywhere; uses .venv/bin/pybabel by default
#   PYBABEL=pybabel scripts/update_catalogs.sh
#
# Afterwards, translate every new or "#, fuzzy" entry in nb, nl and da (the English catalog may
# keep empty msgstrs: English falls back to the msgid), then run tests/unit/test_i18n.py.
# No .mo files are compiled: abonnement.i18n reads the .po files at runtime.
set -euo pipefail

cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
PYTHON=${PYTHON:-.venv/bin/python}
LOCALES_DIR=src/abonnement/locales
POT="$LOCALES_DIR/messages.pot"
LANGS=(en nb nl da)

VERSION=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("abonnement"))')
NEW_POT=$(mktemp "${TMPDIR:-/tmp}/abonnement-messages.XXXXXX")
trap 'rm -f "$NEW_POT"' EXIT

# Locations name the file but not the line, and entries are sorted by msgid, so the diff shows
# only real changes to the strings.
"$PYBABEL" extract \
    --mapping-file=babel.cfg \
    --keyword=N_ \
    --add-location=file \
    --sort-output \
    --project=abonnement \
    --version="$VERSION" \
    --copyright-holder="the abonnement authors" \
    --output-file="$NEW_POT" \
    src/abonnement

# Keep the committed template (and its POT-Creation-Date) when only the date would change.
if [[ -f "$POT" ]] && diff -q <(grep -v '^"POT-Creation-Date:' "$POT") \
                              <(grep -v '^"POT-Creation-Date:' "$NEW_POT") >/dev/null; then
    echo "messages.pot: no changes"
else
    cat "$NEW_POT" > "$POT"  # (not cp: mktemp files are private, the template is not)
    echo "messages.pot: updated"
fi

for lang in "${LANGS[@]}"; do
    "$PYBABEL" update \
        --input-file="$POT" \
        --output-dir="$LOCALES_DIR" \
        --locale="$lang" \
        --init-missing \
        --ignore-obsolete \
        --ignore-pot-creation-date
done
