"""The PDF layout of an invoice (A4, fpdf2), from an `InvoiceDocument` already in words.

fpdf2's core fonts are Latin-1 only, without "€", CLDR's minus sign (U+2212) or the narrow
no-break space Babel puts in amounts, so the DejaVu Sans TrueType fonts shipped in `fonts/`
beside this module are embedded (as the subset of glyphs a document uses).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Final

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, TableHeadingsDisplay, XPos, YPos
from fpdf.util import Padding

from abonnement import i18n
from abonnement.domain.errors import N_
from abonnement.rendering.document import InvoiceDocument, Party

FONTS_DIR: Final = Path(__file__).resolve().parent / "fonts"
FONT: Final = "DejaVuSans"
FONT_FILES: Final = {"": FONTS_DIR / "DejaVuSans.ttf", "B": FONTS_DIR / "DejaVuSans-Bold.ttf"}

MARGIN = 16.0  # mm, left and right
TOP = 16.0
INK = (28, 30, 33)
MUTED = (85, 89, 94)
RULE = (205, 209, 214)
PANEL = (246, 247, 248)
REVERSAL = (251, 244, 234)
NOTE = (240, 247, 240)
NOTE_RULE = (47, 125, 50)

# Description, period, quantity, unit price, days, amount: 178 mm, the width between the margins.
COLUMN_WIDTHS = (58.0, 39.0, 17.0, 23.0, 14.0, 27.0)
ALIGN = ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")


class _InvoicePDF(FPDF):
    def __init__(self, doc: InvoiceDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc = doc
        for style, path in FONT_FILES.items():
            self.add_font(FONT, style=style, fname=str(path))
        self.set_margins(MARGIN, TOP, MARGIN)
        self.set_auto_page_break(auto=True, margin=20)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, size=7.5)
        self.set_text_color(*MUTED)
        # fpdf2 replaces "{nb}" with the number of pages when the document is done.
        # Translators: the footer of each page of a PDF invoice
        page = i18n.render(
            N_("Page {page} of {pages}"), self.doc.locale, page=self.page_no(), pages="{nb}"
        )
        self.cell(0, 5, f"{self.doc.heading} · {self.doc.vendor.name} · {page}", align="C")


def _header(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    left_width = 86.0
    right_x = MARGIN + left_width
    right_width = pdf.epw - left_width

    pdf.set_xy(MARGIN, TOP)
    pdf.set_font(FONT, "B", 12.5)
    pdf.set_text_color(*INK)
    pdf.multi_cell(left_width, 6, doc.vendor.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(*MUTED)
    for line in doc.vendor_lines:
        pdf.multi_cell(left_width, 4.6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()

    pdf.set_xy(right_x, TOP - 1)
    pdf.set_font(FONT, "B", 21)
    pdf.set_text_color(*INK)
    pdf.cell(right_width, 9, doc.title, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=11)
    pdf.set_text_color(*MUTED)
    pdf.cell(right_width, 6, doc.number, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.ln(2.5)
    label_width = 34.0
    for label, value in doc.facts:
        pdf.set_x(right_x)
        pdf.set_font(FONT, size=8.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(label_width, 4.8, label)
        pdf.set_font(FONT, size=9)
        pdf.set_text_color(*INK)
        pdf.cell(right_width - label_width, 4.8, value, align="R", new_x=XPos.LEFT)
        pdf.ln(4.8)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 9)


def _party_height(party: Party) -> float:
    return 6.5 + 4.8 * len(party.lines) + 3


def _party(pdf: _InvoicePDF, party: Party, x: float, y: float, width: float, height: float) -> None:
    """A sold-to or bill-to panel."""
    pdf.set_fill_color(*PANEL)
    pdf.rect(x, y, width, height, style="F")
    pdf.set_xy(x + 3.5, y + 2.5)
    pdf.set_font(FONT, "B", 7.5)
    pdf.set_text_color(*MUTED)
    pdf.cell(width - 7, 4, party.heading.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9.5)
    pdf.set_text_color(*INK)
    pdf.set_y(pdf.get_y() + 0.5)
    for line in party.lines:
        pdf.set_x(x + 3.5)
        pdf.cell(width - 7, 4.8, line, new_x=XPos.LEFT, new_y=YPos.NEXT)


def _parties(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    gap = 8.0
    width = (pdf.epw - gap) / 2
    height = max(_party_height(doc.sold_to), _party_height(doc.bill_to))
    if pdf.will_page_break(height):
        pdf.add_page()
    y = pdf.get_y()
    _party(pdf, doc.sold_to, MARGIN, y, width, height)
    _party(pdf, doc.bill_to, MARGIN + width + gap, y, width, height)
    pdf.set_xy(MARGIN, y + height + 8)


def _lines(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    labels = doc.labels
    pdf.set_font(FONT, size=8.5)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(255)  # the table's cells start from the current style (white)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        width=pdf.epw,
        text_align=ALIGN,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=FontFace(emphasis="BOLD", color=MUTED, size_pt=8),
        line_height=4.3,
        padding=(1.6, 1.2),
        repeat_headings=TableHeadingsDisplay.ON_TOP_OF_EVERY_PAGE,
    ) as table:
        table.row(
            (
                labels.description,
                labels.period,
                labels.quantity,
                labels.unit_price,
                labels.days,
                labels.amount,
            )
        )
        for line in doc.lines:
            style = FontFace(fill_color=REVERSAL) if line.is_reversal else None
            table.row(
                (
                    f"{line.description}\n{line.note}",
                    line.period,
                    line.quantity,
                    line.unit_price,
                    line.days,
                    line.amount,
                ),
                style=style,
            )


def _total_font(pdf: _InvoicePDF, grand: bool) -> float:
    """Set the font of a total row; returns the row's height."""
    if grand:
        pdf.set_font(FONT, "B", 10.5)
        return 7.0
    pdf.set_font(FONT, size=9.5)
    return 5.6


def _totals(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    """Subtotal, tax and total under the amount column, the amounts right-aligned with it."""
    padding = 1.2  # the table's cell padding, so the amounts line up with the lines' amounts
    right = MARGIN + pdf.epw
    widths = []
    for total in doc.totals:
        _total_font(pdf, total.grand)
        widths.append(pdf.get_string_width(total.amount) + 2 * padding)
    amount_width = max(COLUMN_WIDTHS[-1], *widths)
    label_width = 64.0
    left = right - amount_width - label_width
    pdf.ln(3)
    for total in doc.totals:
        if pdf.will_page_break(9):
            pdf.add_page()
        if total.grand:
            pdf.set_draw_color(*INK)
            pdf.set_line_width(0.4)
            pdf.line(left, pdf.get_y() + 0.8, right, pdf.get_y() + 0.8)
            pdf.ln(1.6)
        height = _total_font(pdf, total.grand)
        pdf.set_text_color(*INK)
        pdf.set_x(left)
        pdf.cell(label_width - padding, height, total.label, align="R")
        pdf.set_x(right - amount_width)
        pdf.cell(amount_width - padding, height, total.amount, align="R")
        pdf.ln(height)


def _notes(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    if not doc.notes:
        return
    pdf.ln(8)
    pdf.set_font(FONT, size=9.5)
    pdf.set_text_color(*INK)
    pdf.set_fill_color(*NOTE)
    for note in doc.notes:
        top = pdf.get_y()
        pdf.set_x(MARGIN)
        pdf.multi_cell(
            pdf.epw,
            5,
            note,
            fill=True,
            align="L",
            padding=Padding(top=2.5, right=3.5, bottom=2.5, left=4.5),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_fill_color(*NOTE_RULE)
        pdf.rect(MARGIN, top, 1, pdf.get_y() - top, style="F")
        pdf.set_fill_color(*NOTE)


def render(doc: InvoiceDocument, *, compress: bool = True) -> bytes:
    """The invoice as an A4 PDF. Its bytes depend only on the document (the creation date is
    the issue date), so rendering the same invoice twice gives the same file."""
    pdf = _InvoicePDF(doc)
    pdf.set_compression(compress)
    pdf.set_lang(doc.locale)
    pdf.set_title(doc.heading)
    pdf.set_subject(doc.heading)
    pdf.set_author(doc.vendor.name)
    pdf.set_creator("abonnement")
    pdf.set_producer("abonnement")
    pdf.set_creation_date(datetime.combine(doc.issued_on, time(0, 0), tzinfo=UTC))
    pdf.add_page()
    _header(pdf, doc)
    _parties(pdf, doc)
    _lines(pdf, doc)
    _totals(pdf, doc)
    _notes(pdf, doc)
    return bytes(pdf.output())
