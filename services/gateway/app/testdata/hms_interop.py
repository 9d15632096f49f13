"""Interop helper for the gateway's signature tests: signs and verifies
requests with the PyPI package http-message-signatures (an independent
RFC 9421 implementation), so the Go side is checked against it both ways.

stdin: {"mode": "sign" | "verify", "cases": [case, ...]}; stdout: one result
per case, as JSON.

sign case: method, url, headers {name: value}, body_b64, key_id, secret,
created (unix seconds), nonce (or null), components [names]
  -> {"headers": {...}}: the headers after signing (Content-Digest added).
verify case: method, url, headers, body_b64, key_id, secret
  -> {"ok": true} or {"ok": false, "error": "..."}.
"""
import base64
import datetime
import json
import sys

from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)


class Message:
    def __init__(self, case):
        self.method = case["method"]
        self.url = case["url"]
        self.headers = dict(case["headers"])


def resolver(case):
    secret = case["secret"].encode()
    return MappingKeyResolver(public_keys={case["key_id"]: secret}, private_keys={case["key_id"]: secret})


def sign(case):
    msg = Message(case)
    signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=resolver(case))
    signer.sign(
        msg,
        key_id=case["key_id"],
        created=datetime.datetime.fromtimestamp(case["created"], tz=datetime.timezone.utc),
        nonce=case.get("nonce"),
        label="py",
        covered_component_ids=case["components"],
        body=base64.b64decode(case["body_b64"]),
    )
    return {"headers": msg.headers}


def verify(case):
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=resolver(case))
    try:
        verifier.verify(
            Message(case),
            max_age=datetime.timedelta(minutes=5),
            body=base64.b64decode(case["body_b64"]),
            require_components=("@method", "@target-uri", "content-type", "content-digest"),
        )
    except Exception as e:  # every refusal, whatever its class, is a "no"
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return {"ok": True}


def main():
    req = json.load(sys.stdin)
    run = {"sign": sign, "verify": verify}[req["mode"]]
    json.dump([run(c) for c in req["cases"]], sys.stdout)


if __name__ == "__main__":
    main()
