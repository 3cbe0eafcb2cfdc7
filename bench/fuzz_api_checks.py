"""memesearch's own checks for the API fuzzer (``bench/fuzz_api.py``; loaded by schemathesis through
``SCHEMATHESIS_HOOKS=fuzz_api_checks``), on top of schemathesis' built-in ones.

``errors_are_json_naming_the_field``: every 4xx answer is ``{"error": {"code", "message"}}`` JSON with a
non-empty code and message; a 400 or 422 (the request's own content was refused) also carries
``details: [{"field", "message"}]`` whose field is a parameter of the operation (query, path, header), the
uploaded ``file``, the ``body``, the ``Content-Type`` / ``Content-Length`` header, or the whole ``request``
(not valid HTTP), and the message names it too — so a client always learns which of its inputs to fix.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis

#: fields a 400/422 may name besides the operation's own parameters ("request": not valid HTTP at all)
BODY_FIELDS = {"file", "body", "Content-Type", "Content-Length", "request"}


def _parameter_names(case: Any) -> set[str]:
    try:
        return {str(p.name) for p in case.operation.iter_parameters()}
    except Exception:  # an operation without parameters (or an unknown shape): only the body fields
        return set()


@schemathesis.check
def errors_are_json_naming_the_field(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx is a JSON error with a code and a message; a 400/422 names the field at fault."""
    status = int(response.status_code)
    if not 400 <= status < 500:
        return None
    ctype = ";".join(response.headers.get("content-type", []))
    if not ctype.startswith("application/json"):
        raise AssertionError(f"{status} answered with content type {ctype or 'none'!r}, not a JSON error")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} body is not JSON: {response.content[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise AssertionError(f'{status} body is not {{"error": {{...}}}}: {str(body)[:200]}')
    for key in ("code", "message"):
        if not isinstance(error.get(key), str) or not error[key].strip():
            raise AssertionError(f"{status} error has no {key}: {error}")
    if status not in (400, 422):
        return None
    details = error.get("details")
    if not isinstance(details, list) or not details:
        raise AssertionError(f"{status} {error['code']} names no field (no details): {error}")
    allowed = _parameter_names(case) | BODY_FIELDS
    for detail in details:
        field = detail.get("field") if isinstance(detail, dict) else None
        if field not in allowed:
            raise AssertionError(
                f"{status} {error['code']} names field {field!r}, not one of the request's: {sorted(allowed)}"
            )
        if not re.search(rf"(?<![\w-]){re.escape(str(field))}(?![\w-])", error["message"]):
            raise AssertionError(f"{status} {error['code']} message does not name {field!r}: {error}")
    return None
