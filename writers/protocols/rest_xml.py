"""AWS's REST-XML protocol (S3): the path and query name the resource, answers are XML.

Only what the S3 operations here need: URI encoding as botocore does it, reading a
small XML answer without caring for namespaces, and turning an error answer (which
S3 may send even with HTTP 200, e.g. for CompleteMultipartUpload) into an AwsCallError.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from urllib.parse import quote
from xml.sax.saxutils import escape

from writers.errors import AwsCallError

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


# What quote(segment, safe="/~") leaves as it is: a segment of only these is its own encoding.
_UNCHANGED_BY_QUOTE = re.compile(r"[A-Za-z0-9_.~/-]*")


def uri_path(*segments: str) -> str:
    """'/a/b' from segments, each percent-encoded as botocore encodes S3 keys ('/' and '~' kept)."""
    return "".join("/" + encode_segment(segment) for segment in segments)


def encode_segment(segment: str) -> str:
    """One segment percent-encoded as botocore does; generated keys need no encoding, and
    checking that costs a third of what quote() does."""
    return segment if _UNCHANGED_BY_QUOTE.fullmatch(segment) else quote(segment, safe="/~")


def query_string(pairs: Iterable[tuple[str, str | None]]) -> str:
    """'a=1&b' in the given order; values encoded like botocore's percent_encode (RFC 3986 unreserved kept)."""
    return "&".join(name if value is None else f"{name}={quote(value, safe='-_.~')}" for name, value in pairs)


def parse_xml(body: bytes) -> ElementTree.Element | None:
    """The document's root with namespaces dropped from tag names; None if it is not XML."""
    if not body.strip():
        return None
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.rsplit("}", 1)[1]
    return root


def child_text(element: ElementTree.Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "") if found is not None else ""


def error_from(status: int, body: bytes) -> AwsCallError | None:
    """The error an answer carries (a non-2xx status or an <Error> document), classified; else None."""
    root = parse_xml(body)
    if root is not None and root.tag == "Error":
        code = child_text(root, "Code") or f"HTTP{status}"
        return AwsCallError.from_response(status if status >= 300 else 500, code, child_text(root, "Message"))
    if 200 <= status < 300:
        return None
    # HEAD answers and some proxies carry no XML: the status is all there is.
    return AwsCallError.from_response(status, f"HTTP{status}", body[:120].decode("utf-8", "replace"))


def element(tag: str, *children: str, text: str | None = None) -> str:
    """A small XML element as text; `text` is escaped, children are already XML."""
    inner = escape(text) if text is not None else "".join(children)
    return f"<{tag}>{inner}</{tag}>"
