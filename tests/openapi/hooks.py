"""Schemathesis hooks for tests/openapi/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS)."""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r'(?!""$)(?:[!-~]{1,255}|"[!-~]{1,255}")')


@schemathesis.hook
def before_call(context, case, kwargs):
    """Gives every valid Idempotency-Key a fresh value, just before the request goes out.

    A key names one reservation: sent again with another body it is refused with 422, as the document says
    (and Tests/CafeWebTests checks). Generated keys repeat ("0", "00"), which would make valid requests look
    refused. Invalid keys are left as generated, so that their refusal is still tested.
    """
    fresh = str(uuid.uuid4())
    for headers in (case.headers, kwargs.get("headers")):
        if headers and VALID_KEY.fullmatch(str(headers.get("Idempotency-Key", ""))):
            headers["Idempotency-Key"] = fresh
