#!/usr/bin/env python3
"""Verify tradeward signatures with libraries that share no code with it.

The agent already checks every signature against the key's public key before
releasing it, but that check runs inside the agent. This script is the
outside opinion the quickstart (and anyone doubting a setup) relies on: it
takes the signatures and public material as data and verifies them with the
widely used PyPI packages ``cryptography`` (ECDSA on P-256 and secp256k1,
Ed25519) and ``eth_account`` (EIP-191 address recovery, the check an
Ethereum venue effectively makes), and with the standard library's ``hmac``.

Input, as JSON on stdin: a list of objects, byte strings in hex (``0x``
optional)::

    [{"name": "eth", "type": "secp256k1",
      "public_key": "0x04...", "address": "0xAbC...",
      "message": "0x68656c6c6f", "scheme": "eip191",
      "signature": "0x...65 bytes..."},
     {"type": "p256", "public_key": "0x04...", "message": "0x...",
      "format": "der", "signature": "0x30..."},
     {"type": "ed25519", "public_key": "0x...", "message": "0x...", "signature": "0x..."},
     {"type": "hmac", "hmac_secret": "0x...", "message": "0x...", "signature": "0x..."}]

Each object has ``message`` or, for the ECDSA types, ``digest`` (32 bytes
signed as is). For secp256k1, a message is hashed with Keccak-256, or with
the EIP-191 ``personal_sign`` hash when ``scheme`` is ``eip191``; at least one
of ``public_key`` and ``address`` is required. P-256 messages are hashed
with SHA-256 and ``format`` is ``raw`` (r || s, the default) or ``der``.

Prints one line per signature and exits 0 only if every one verified
(1 if any failed, 2 if the input itself is unusable).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from typing import Any, Dict, List, NoReturn, Optional, Tuple

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
    from eth_account import Account
    from eth_account.messages import defunct_hash_message, encode_defunct
    from eth_keys.datatypes import PublicKey as EthPublicKey
    from eth_keys.datatypes import Signature as EthSignature
    from eth_utils.crypto import keccak
except ImportError as e:  # pragma: no cover - depends on the environment
    sys.stderr.write(
        f"verify_signatures: {e}\n"
        "  this script needs the PyPI packages `cryptography` and `eth-account`:\n"
        "  python3 -m pip install cryptography eth-account\n"
    )
    sys.exit(2)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class Failed(Exception):
    """A signature that does not verify (as opposed to unusable input)."""


class BadInput(Exception):
    """A record this script cannot even check."""


def unhex(record: Dict[str, Any], name: str) -> Optional[bytes]:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BadInput(f"{name} is not valid hex") from None


def need(record: Dict[str, Any], name: str) -> bytes:
    value = unhex(record, name)
    if value is None:
        raise BadInput(f"missing {name}")
    return value


def payload(record: Dict[str, Any], digest_allowed: bool) -> Tuple[Optional[bytes], Optional[bytes]]:
    """(message, digest): exactly one is set."""
    message, digest = unhex(record, "message"), unhex(record, "digest")
    if (message is None) == (digest is None):
        raise BadInput("give exactly one of message and digest")
    if digest is not None:
        if not digest_allowed:
            raise BadInput(f"{record['type']} signatures cover messages, not digests")
        if len(digest) != 32:
            raise BadInput(f"digest must be 32 bytes, got {len(digest)}")
    return message, digest


COLUMNS = "{:<5} {:<8} {:<10} {:<42} {}"


def short(text: str, width: int = 42) -> str:
    keep = width // 2 - 1
    return text if len(text) <= width else f"{text[:keep]}…{text[-keep:]}"


def same_address(given: str, actual: str) -> bool:
    """Addresses match; a mixed-case address must also carry the right
    EIP-55 checksum (``actual`` is always checksummed)."""
    if given == given.lower() or given[2:] == given[2:].upper():
        return given.lower() == actual.lower()
    return given == actual


def check_secp256k1(record: Dict[str, Any]) -> Tuple[str, str]:
    sig = need(record, "signature")
    pub = unhex(record, "public_key")
    address = record.get("address")
    if pub is None and address is None:
        raise BadInput("secp256k1 needs public_key or address")
    scheme = record.get("scheme")
    if scheme not in (None, "eip191"):
        raise BadInput(f"unknown scheme {scheme!r}")
    message, digest = payload(record, digest_allowed=True)
    if scheme == "eip191" and message is None:
        raise BadInput("scheme eip191 applies to messages")
    if len(sig) != 65:
        raise Failed(f"signature is {len(sig)} bytes, expected 65 (r || s || v)")
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    if v not in (27, 28):
        raise Failed(f"v is {v}, expected 27 or 28")
    if s > SECP256K1_N // 2:
        raise Failed("s is in the high half of the order (malleable; Ethereum rejects it)")
    if digest is None:
        assert message is not None
        digest = bytes(defunct_hash_message(primitive=message)) if scheme else keccak(message)
    used = []
    if pub is not None:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), pub)
        try:
            key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            raise Failed("cryptography: ECDSA signature does not verify against the public key") from None
        used.append("cryptography (ECDSA secp256k1, low-s)")
        derived = EthPublicKey(pub[1:] if len(pub) == 65 else pub).to_checksum_address()
        if address is not None and not same_address(address, derived):
            raise Failed(f"address {address} does not belong to the public key ({derived})")
        address = derived
    if not isinstance(address, str):
        raise BadInput("address must be a string")
    if scheme == "eip191":
        assert message is not None
        recovered = Account.recover_message(encode_defunct(primitive=message), signature=sig)
        used.append("eth_account (EIP-191 address recovery)")
    else:
        recovered = EthSignature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest).to_checksum_address()
        used.append("eth_keys (address recovery)")
    if not same_address(recovered, address):
        raise Failed(f"signature recovers to {recovered}, not {address}")
    return address, " + ".join(used)


def check_p256(record: Dict[str, Any]) -> Tuple[str, str]:
    sig = need(record, "signature")
    pub = need(record, "public_key")
    message, digest = payload(record, digest_allowed=True)
    fmt = record.get("format") or "raw"
    if fmt == "raw":
        if len(sig) != 64:
            raise Failed(f"raw P-256 signature is {len(sig)} bytes, expected 64")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    elif fmt == "der":
        der = sig
    else:
        raise BadInput(f"unknown format {fmt!r}")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    try:
        if digest is not None:
            key.verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        else:
            assert message is not None
            key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise Failed("cryptography: ECDSA signature does not verify against the public key") from None
    return "0x" + pub.hex(), f"cryptography (ECDSA P-256/SHA-256, {fmt})"


def check_ed25519(record: Dict[str, Any]) -> Tuple[str, str]:
    sig = need(record, "signature")
    pub = need(record, "public_key")
    message, _ = payload(record, digest_allowed=False)
    assert message is not None
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(pub).verify(sig, message)
    except InvalidSignature:
        raise Failed("cryptography: Ed25519 signature does not verify against the public key") from None
    return "0x" + pub.hex(), "cryptography (Ed25519)"


def check_hmac(record: Dict[str, Any]) -> Tuple[str, str]:
    sig = need(record, "signature")
    secret = unhex(record, "hmac_secret")
    if secret is None:
        raise BadInput("an HMAC can only be checked with hmac_secret")
    message, _ = payload(record, digest_allowed=False)
    assert message is not None
    expected = hmac.new(secret, message, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, sig):
        raise Failed("HMAC-SHA256 does not match the secret")
    return "(imported secret, given to the verifier)", "Python hmac (HMAC-SHA256)"


CHECKS = {
    "secp256k1": check_secp256k1,
    "p256": check_p256,
    "ed25519": check_ed25519,
    "hmac": check_hmac,
}


def die(message: str) -> NoReturn:
    sys.stderr.write(f"verify_signatures: {message}\n")
    sys.exit(2)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Verify tradeward signatures (JSON list on stdin) with cryptography and eth_account."
    )
    parser.add_argument("--full", action="store_true", help="print public keys in full")
    parser.add_argument("--header", action="store_true", help="print a column header first")
    args = parser.parse_args(argv)
    try:
        records = json.load(sys.stdin)
    except ValueError as e:
        die(f"stdin is not JSON: {e}")
    if not isinstance(records, list) or not records:
        die("expected a non-empty JSON list of signature records")
    failures = 0
    unusable = 0
    if args.header:
        print(COLUMNS.format("", "key", "type", "address / public key", "verified by"))
    for i, record in enumerate(records):
        name = f"#{i}"
        try:
            if not isinstance(record, dict):
                raise BadInput("record is not an object")
            name = str(record.get("name", name))
            kind = record.get("type")
            check = CHECKS.get(kind) if isinstance(kind, str) else None
            if check is None:
                raise BadInput(f"unknown type {kind!r} (known: {', '.join(CHECKS)})")
            who, how = check(record)
            print(COLUMNS.format("OK", name, kind, who if args.full else short(who), how))
        except Failed as e:
            failures += 1
            print(COLUMNS.format("FAIL", name, str(record.get("type")), "", e))
        except (BadInput, ValueError) as e:
            # ValueError: e.g. a public key that is not a curve point.
            unusable += 1
            kind = record.get("type") if isinstance(record, dict) else None
            print(COLUMNS.format("ERROR", name, str(kind), "", f"cannot check: {e}"))
    if failures or unusable:
        print(f"{failures} failed, {unusable} could not be checked, of {len(records)}", file=sys.stderr)
        return 1 if failures else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
