"""Documents for people: invoices and credit notes as HTML, PDF and plain text (R16: in en, nb,
nl and da). See `abonnement.rendering.invoice`."""

from __future__ import annotations

from abonnement.rendering.document import Vendor
from abonnement.rendering.invoice import render_html, render_lines_text, render_pdf, render_text

__all__ = ["Vendor", "render_html", "render_lines_text", "render_pdf", "render_text"]
