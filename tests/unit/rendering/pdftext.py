"""Reading the text back out of an uncompressed fpdf2 PDF (`render_pdf(..., compress=False)`).

fpdf2 writes text in an embedded TrueType font as two-byte glyph codes, so the words are not in
the file as such; each font's ToUnicode CMap maps the codes back to characters. This reads just
what fpdf2 writes (literal strings shown with Tj, fonts named /F1, /F2 ...), which is enough to
check that the right words, dates and amounts are on the page.
"""

from __future__ import annotations

import re

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_FONT_RESOURCE = re.compile(rb"/(F\d+) (\d+) 0 R")
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_CONTENT = re.compile(rb"/(F\d+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\])*?)\)\s*Tj", re.S)
_ESCAPE = re.compile(rb"\\([nrtbf()\\]|[0-7]{1,3})", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(literal: bytes) -> bytes:
    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        if token in _ESCAPES:
            return _ESCAPES[token]
        if token.isdigit():
            return bytes([int(token, 8)])
        return token

    return _ESCAPE.sub(replace, literal)


def _cmap(stream: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for section in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        for source, target in _BFCHAR.findall(section):
            units = bytes.fromhex(target.decode()).decode("utf-16-be")
            mapping[int(source, 16)] = units
    return mapping


def pdf_chunks(data: bytes) -> list[str]:
    """Every piece of text shown on the pages, in drawing order."""
    objects = {int(num): body for num, body in _OBJECT.findall(data)}
    cmaps: dict[bytes, dict[int, str]] = {}
    for name, num in _FONT_RESOURCE.findall(data):
        font = objects[int(num)]
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font)
        assert to_unicode, f"font {name!r} has no ToUnicode map"
        stream = _STREAM.search(objects[int(to_unicode.group(1))])
        assert stream, "the ToUnicode map is not an uncompressed stream"
        cmaps[name] = _cmap(stream.group(1))
    chunks: list[str] = []
    for body in objects.values():
        if b"/Type /Page\n" not in body and b"/Type /Page>>" not in body:
            continue
        contents = re.search(rb"/Contents (\d+) 0 R", body)
        assert contents
        stream = _STREAM.search(objects[int(contents.group(1))])
        assert stream, "the page content is compressed: render with compress=False"
        font: dict[int, str] = {}
        for match in _CONTENT.finditer(stream.group(1)):
            if match.group(1) is not None:
                font = cmaps[match.group(1)]
                continue
            raw = _unescape(match.group(2))
            codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
            chunks.append("".join(font.get(code, "\ufffd") for code in codes))
    return chunks


def pdf_text(data: bytes) -> str:
    return "\n".join(pdf_chunks(data))
