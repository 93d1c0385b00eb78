"""Schemathesis hooks for .ci/fuzz_rest.sh.

A fuzzer draws the same few Idempotency-Key values ("0", "00", ...) for
unrelated requests, and the server rightly answers a key reused for another
request with 422 `idempotency-key-reused`: that answer depends on what was
sent before, not on the request. So every *valid* drawn key gets a suffix
unique to the request; invalid keys are sent as drawn, to check they are
refused.
"""

import hashlib
import hmac
import itertools
import json
import os
import pathlib
import re
import time

import schemathesis
from requests.compat import json as requests_json

# The fuzz's token is a customer's too (FUZZ_CUSTOMER, see fuzz_rest.sh), and
# a customer may only create orders for themselves (a 403 otherwise). So a
# schema-valid `customer_id` in a create is replaced by the token's: the
# request stays as valid as drawn, and the create can be accepted. Invalid
# drawn values are sent as they are, to check they are refused.
_CUSTOMER = os.environ.get("FUZZ_CUSTOMER", "fuzz-customer")
_DOC = json.loads(
    (pathlib.Path(__file__).resolve().parent.parent / "command-api" / "openapi.json").read_text()
)
_CUSTOMER_SCHEMA = _DOC["components"]["schemas"]["CreateOrderRequest"]["properties"]["customer_id"]
_CUSTOMER_PATTERN = re.compile(_CUSTOMER_SCHEMA["pattern"])


def _valid_customer(value):
    return (
        isinstance(value, str)
        and _CUSTOMER_SCHEMA["minLength"] <= len(value) <= _CUSTOMER_SCHEMA["maxLength"]
        and _CUSTOMER_PATTERN.search(value) is not None
    )

# The document's pattern and length (command-api/src/contract.rs).
_VALID_KEY = re.compile(r"[!-~]([ -~]*[!-~])?\Z")
_MAX_KEY_LEN = 255
_counter = itertools.count()


@schemathesis.hook
def map_case(context, case):
    headers = case.headers or {}
    for name, key in list(headers.items()):
        if name.lower() != "idempotency-key" or not isinstance(key, str):
            continue
        if len(key) <= _MAX_KEY_LEN and _VALID_KEY.match(key):
            suffix = f"~{next(_counter)}"
            headers[name] = key[: _MAX_KEY_LEN - len(suffix)] + suffix
    body = case.body
    if (
        case.operation.method.upper() == "POST"
        and case.operation.path == "/orders"
        and isinstance(body, dict)
        and _valid_customer(body.get("customer_id"))
    ):
        body["customer_id"] = _CUSTOMER
    return case


# The payment webhook takes no token but a signature with the webhook secret
# the fuzzed server runs with (FUZZ_WEBHOOK_SECRET, see fuzz_rest.sh). Each
# webhook request is signed over the exact bytes `requests` will send, so a
# schema-valid notification gets past the signature and is judged on its
# content (an unknown order is a 404); the signature checks themselves are
# the Rust tests' (command-api/tests/http/webhooks.rs).
_WEBHOOK_SECRET = os.environ.get("FUZZ_WEBHOOK_SECRET", "").encode()


def _body_bytes(body):
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    text = requests_json.dumps(body, allow_nan=False)
    return text if isinstance(text, bytes) else text.encode("utf-8")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/webhooks/payments" or not _WEBHOOK_SECRET:
        return
    try:
        body = _body_bytes(case.body)
    except (TypeError, ValueError):
        return  # not JSON-serialisable: sent unsigned, refused with a 401
    t = str(int(time.time()))
    tag = hmac.new(_WEBHOOK_SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = case.headers if case.headers is not None else {}
    for name in [n for n in headers if n.lower() == "orderflow-signature"]:
        del headers[name]
    headers["Orderflow-Signature"] = f"t={t},v1={tag}"
    case.headers = headers
