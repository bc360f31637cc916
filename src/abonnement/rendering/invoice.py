"""Invoices and credit notes as people read them: a printable HTML page, an A4 PDF, and plain
text with fixed columns (for the CLI and for notes), in English, Norwegian, Dutch or Danish.

Each shows the title (invoice or credit note) and number, the issue and due dates, the billing
period, sold-to and bill-to, one line per charge (quantity × unit price × days / days in the
period, reversals marked), the subtotal, the tax at its rate, the total and, on a credit note,
when the credit comes back (R11, R13). Issued invoices are never edited: this only reads them.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from abonnement import i18n
from abonnement.rendering.document import InvoiceDocument, Vendor, build
from abonnement.services.schemas import InvoiceView

__all__ = ["Vendor", "render_html", "render_lines_text", "render_pdf", "render_text"]

TEMPLATE = "invoice.html"
GAP = "  "
DESCRIPTION_WIDTH = 34  # the description column wraps beyond this


# -- HTML -------------------------------------------------------------------------------------
@functools.cache
def environment() -> Environment:
    """The templates' environment: HTML autoescaped, undefined names an error."""
    return Environment(
        loader=PackageLoader("abonnement.rendering", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(invoice: InvoiceView, locale: str, vendor: Vendor | None = None) -> str:
    """A standalone, printable HTML page (inline CSS, no external resources)."""
    doc = build(invoice, locale, vendor)
    code = doc.locale

    def translate(msgid: str, /, **context: object) -> str:
        return i18n.render(msgid, code, **context)

    return environment().get_template(TEMPLATE).render(doc=doc, invoice=invoice, _=translate)


# -- PDF --------------------------------------------------------------------------------------
def render_pdf(
    invoice: InvoiceView, locale: str, vendor: Vendor | None = None, *, compress: bool = True
) -> bytes:
    """An A4 PDF with the fonts it needs embedded. (The PDF library is imported here, when a
    PDF is made: it takes about half a second, which every command and process would pay.)"""
    from abonnement.rendering import pdf

    return pdf.render(build(invoice, locale, vendor), compress=compress)


# -- text -------------------------------------------------------------------------------------
def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def _table(doc: InvoiceDocument) -> list[str]:
    """The lines and totals, in fixed columns: every row as wide as the rule above it."""
    labels = doc.labels
    heads = [
        labels.description,
        labels.period,
        labels.quantity,
        labels.unit_price,
        labels.days,
        labels.amount,
    ]
    cells = [
        [line.period, line.quantity, line.unit_price, line.days, line.amount] for line in doc.lines
    ]
    widths = [
        max([len(heads[i + 1])] + [len(row[i]) for row in cells]) for i in range(len(heads) - 1)
    ]
    widths[-1] = max([widths[-1]] + [len(total.amount) for total in doc.totals])
    natural = max([len(heads[0])] + [len(line.description) for line in doc.lines])
    first = max(len(heads[0]), min(DESCRIPTION_WIDTH, natural))
    widths = [first, *widths]
    width = sum(widths) + len(GAP) * (len(widths) - 1)

    def row(values: Sequence[str]) -> str:
        parts = [values[0].ljust(widths[0]), values[1].ljust(widths[1])]
        parts += [value.rjust(w) for value, w in zip(values[2:], widths[2:], strict=True)]
        return GAP.join(parts)

    out = [row(heads), "-" * width]
    for line, values in zip(doc.lines, cells, strict=True):
        description = _wrap(line.description, widths[0])
        note = _wrap(line.note, width, "  ")  # on lines of its own, across the columns
        out.append(row([description[0], *values]))
        out.extend(text.rstrip() for text in description[1:] + note)
    out.append("-" * width)
    label_width = width - widths[-1] - len(GAP)
    for total in doc.totals:
        if total.grand:
            out.append(" " * label_width + GAP + "=" * widths[-1])
        out.append(total.label.rjust(label_width) + GAP + total.amount.rjust(widths[-1]))
    return out


def _columns(left: Sequence[str], right: Sequence[str], gap: int = 6) -> list[str]:
    width = max(len(text) for text in left) + gap
    rows = max(len(left), len(right))
    padded_left = list(left) + [""] * (rows - len(left))
    padded_right = list(right) + [""] * (rows - len(right))
    return [(a.ljust(width) + b).rstrip() for a, b in zip(padded_left, padded_right, strict=True)]


def _text(doc: InvoiceDocument, *, vendor: bool = True) -> str:
    out: list[str] = []
    if vendor:
        out += [doc.vendor.name, *doc.vendor_lines, ""]
    out += [doc.heading, "=" * len(doc.heading)]
    label_width = max(len(label) for label, _ in doc.facts) + 3
    out += [label.ljust(label_width) + value for label, value in doc.facts]
    out.append("")
    out += _columns(
        [doc.sold_to.heading, *doc.sold_to.lines], [doc.bill_to.heading, *doc.bill_to.lines]
    )
    out.append("")
    table = _table(doc)
    out += table
    if doc.notes:
        out.append("")
        width = max(60, len(table[1]))
        for note in doc.notes:
            out += _wrap(note, width)
    return "\n".join(out) + "\n"


def render_text(invoice: InvoiceView, locale: str, vendor: Vendor | None = None) -> str:
    """Plain text with fixed columns; amounts right-aligned under each other."""
    return _text(build(invoice, locale, vendor))


def render_lines_text(invoice: InvoiceView, locale: str) -> str:
    """Only the lines and totals of an invoice, in the columns of `render_text` (for previews,
    whose invoices are not issued and have no number to show)."""
    return "\n".join(_table(build(invoice, locale))) + "\n"
