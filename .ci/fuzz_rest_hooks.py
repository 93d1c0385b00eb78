"""Schemathesis hooks for .ci/fuzz_rest.sh.

A fuzzer draws the same few Idempotency-Key values ("0", "00", ...) for
unrelated requests, and the server rightly answers a key reused for another
request with 422 `idempotency-key-reused`: that answer depends on what was
sent before, not on the request. So every *valid* drawn key gets a suffix
unique to the request; invalid keys are sent as drawn, to check they are
refused.
"""

import itertools
import re

import schemathesis

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
    return case
