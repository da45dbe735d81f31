"""Reference cryptography for the client tests, standard library only.

The tests must check signatures without third-party packages, and Python's
standard library has neither elliptic curves nor Keccak-256 (hashlib's
sha3_256 is the final FIPS 202 padding, not the Keccak padding Ethereum
uses). These are small, slow, textbook implementations: fine for checking a
few dozen signatures, never for producing them. Each is pinned by known
answers in the tests, so a bug here shows up as a failing test rather than a
silently accepted signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

# --------------------------------------------------------------------------
# Keccak-256 (the original Keccak padding, as Ethereum uses it)
# --------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def _round_constants() -> List[int]:
    # The iota constants come from a degree-8 LFSR (FIPS 202, 3.2.5);
    # deriving them avoids a table of 24 hand-copied numbers.
    out: List[int] = []
    r = 1
    for _ in range(24):
        rc = 0
        for j in range(7):
            if r & 1:
                rc |= 1 << ((1 << j) - 1)
            r <<= 1
            if r & 0x100:
                r ^= 0x171
        out.append(rc)
    return out


def _rotation_offsets() -> List[List[int]]:
    # rho offsets by walking (x, y) -> (y, 2x + 3y) from (1, 0).
    offs = [[0] * 5 for _ in range(5)]
    x, y = 1, 0
    for t in range(24):
        offs[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return offs


_RC = _round_constants()
_ROT = _rotation_offsets()


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _MASK64 if n else v


def _keccak_f(a: List[List[int]]) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def sponge256(data: bytes, pad: int) -> bytes:
    """Keccak[c=512] with a 256-bit output. ``pad`` is the domain byte:
    0x01 for the original Keccak (Ethereum), 0x06 for FIPS 202 SHA3-256,
    which lets the tests cross-check this code against hashlib.sha3_256."""
    rate = 136
    msg = bytearray(data)
    msg.append(pad)
    while len(msg) % rate:
        msg.append(0)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off : off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(a)
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


def keccak256(data: bytes) -> bytes:
    return sponge256(data, 0x01)


def eip191_digest(message: bytes) -> bytes:
    """Keccak-256 of the ``personal_sign`` envelope (EIP-191 version 0x45)."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def eth_address(uncompressed_pubkey: bytes) -> str:
    """EIP-55 checksummed address of a 65-byte SEC1 public key."""
    if len(uncompressed_pubkey) != 65 or uncompressed_pubkey[0] != 4:
        raise ValueError("expected an uncompressed SEC1 point")
    raw = keccak256(uncompressed_pubkey[1:])[12:].hex()
    h = keccak256(raw.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(raw))


# --------------------------------------------------------------------------
# Short Weierstrass curves: ECDSA verification and public key recovery
# --------------------------------------------------------------------------

Point = Optional[Tuple[int, int]]  # None is the point at infinity


@dataclass(frozen=True)
class Curve:
    name: str
    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int

    @property
    def g(self) -> Tuple[int, int]:
        return (self.gx, self.gy)

    def on_curve(self, pt: Point) -> bool:
        if pt is None:
            return True
        x, y = pt
        return (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2 and (y1 + y2) % self.p == 0:
            return None
        if p1 == p2:
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p)
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, self.p)
        x3 = (lam * lam - x1 - x2) % self.p
        return (x3, (lam * (x1 - x3) - y1) % self.p)

    def mul(self, k: int, pt: Point) -> Point:
        result: Point = None
        addend = pt
        while k:
            if k & 1:
                result = self.add(result, addend)
            addend = self.add(addend, addend)
            k >>= 1
        return result

    def decode_point(self, sec1: bytes) -> Tuple[int, int]:
        size = (self.p.bit_length() + 7) // 8
        if len(sec1) != 1 + 2 * size or sec1[0] != 4:
            raise ValueError(f"{self.name}: expected an uncompressed point")
        pt = (int.from_bytes(sec1[1 : 1 + size], "big"), int.from_bytes(sec1[1 + size :], "big"))
        if not self.on_curve(pt):
            raise ValueError(f"{self.name}: point is not on the curve")
        return pt

    def verify(self, pubkey: bytes, digest: bytes, r: int, s: int) -> bool:
        """ECDSA verification over a 32-byte digest (no hashing here)."""
        q = self.decode_point(pubkey)
        if not (0 < r < self.n and 0 < s < self.n):
            return False
        e = int.from_bytes(digest, "big")
        w = pow(s, -1, self.n)
        pt = self.add(self.mul(e * w % self.n, self.g), self.mul(r * w % self.n, q))
        return pt is not None and pt[0] % self.n == r

    def recover(self, digest: bytes, r: int, s: int, recovery_id: int) -> bytes:
        """The public key (uncompressed SEC1) that ``recovery_id`` selects."""
        # Both curves here have p = 3 (mod 4), so the square root is a power.
        assert self.p % 4 == 3
        x = r  # r < p - n always holds in practice; ids 2 and 3 are not used
        alpha = (x * x * x + self.a * x + self.b) % self.p
        y = pow(alpha, (self.p + 1) // 4, self.p)
        if y * y % self.p != alpha:
            raise ValueError("r is not the x coordinate of a curve point")
        if y & 1 != recovery_id & 1:
            y = self.p - y
        e = int.from_bytes(digest, "big")
        rinv = pow(r, -1, self.n)
        q = self.mul(rinv, self.add(self.mul(s, (x, y)), self.mul((-e) % self.n, self.g)))
        if q is None:
            raise ValueError("recovered the point at infinity")
        return b"\x04" + q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big")


SECP256K1 = Curve(
    name="secp256k1",
    p=2**256 - 2**32 - 977,
    a=0,
    b=7,
    n=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    gx=0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    gy=0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)

P256 = Curve(
    name="P-256",
    p=2**256 - 2**224 + 2**192 + 2**96 - 1,
    a=-3,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def der_to_rs(der: bytes) -> Tuple[int, int]:
    """Parse a DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs), strictly."""

    def read_int(buf: bytes, i: int) -> Tuple[int, int]:
        if buf[i] != 0x02:
            raise ValueError("expected INTEGER")
        n = buf[i + 1]
        if n == 0 or n > 33:
            raise ValueError("bad INTEGER length")
        body = buf[i + 2 : i + 2 + n]
        if len(body) != n or body[0] & 0x80:
            raise ValueError("negative or truncated INTEGER")
        if n > 1 and body[0] == 0 and not body[1] & 0x80:
            raise ValueError("non-minimal INTEGER")
        return int.from_bytes(body, "big"), i + 2 + n

    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise ValueError("expected a DER SEQUENCE spanning the whole input")
    r, i = read_int(der, 2)
    s, i = read_int(der, i)
    if i != len(der):
        raise ValueError("trailing bytes after the signature")
    return r, s


# --------------------------------------------------------------------------
# Ed25519 verification (RFC 8032, cofactorless equation)
# --------------------------------------------------------------------------

_EP = 2**255 - 19
_EL = 2**252 + 27742317777372353535851937790883648493
_ED = (-121665 * pow(121666, -1, _EP)) % _EP
_SQRT_M1 = pow(2, (_EP - 1) // 4, _EP)

EdPoint = Tuple[int, int]


def _ed_add(p1: EdPoint, p2: EdPoint) -> EdPoint:
    (x1, y1), (x2, y2) = p1, p2
    t = _ED * x1 * x2 * y1 * y2 % _EP
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, _EP) % _EP
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _EP) % _EP
    return (x3, y3)


def _ed_mul(k: int, pt: EdPoint) -> EdPoint:
    result = (0, 1)
    while k:
        if k & 1:
            result = _ed_add(result, pt)
        pt = _ed_add(pt, pt)
        k >>= 1
    return result


def _ed_decode(b: bytes) -> EdPoint:
    if len(b) != 32:
        raise ValueError("Ed25519 points are 32 bytes")
    v = int.from_bytes(b, "little")
    sign, y = v >> 255, v & ((1 << 255) - 1)
    if y >= _EP:
        raise ValueError("non-canonical y")
    x2 = (y * y - 1) * pow(_ED * y * y + 1, -1, _EP) % _EP
    x = pow(x2, (_EP + 3) // 8, _EP)
    if (x * x - x2) % _EP:
        x = x * _SQRT_M1 % _EP
    if (x * x - x2) % _EP:
        raise ValueError("not a point on Ed25519")
    if x == 0 and sign:
        raise ValueError("non-canonical x")
    if x & 1 != sign:
        x = _EP - x
    return (x, y)


def _ed_encode(pt: EdPoint) -> bytes:
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_EB = _ed_decode((4 * pow(5, -1, _EP) % _EP).to_bytes(32, "little"))


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        a = _ed_decode(public_key)
        r = _ed_decode(signature[:32])
    except ValueError:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _EL:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _EL
    return _ed_encode(_ed_mul(s, _EB)) == _ed_encode(_ed_add(r, _ed_mul(h, a)))


def ed25519_public_key(seed: bytes) -> bytes:
    """Public key of an RFC 8032 private seed (for known-answer tests)."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return _ed_encode(_ed_mul(a, _EB))


# --------------------------------------------------------------------------
# Hyperliquid L1 actions: msgpack, action hash, EIP-712 "Agent" digest
# --------------------------------------------------------------------------


def msgpack_encode(value: object) -> bytes:
    """MessagePack as the venue's SDK writes it (``msgpack.packb`` with its
    defaults): maps in their insertion order, the smallest integer and
    string encodings, str as UTF-8 ``str`` types. Only the JSON types."""
    out = bytearray()

    def length(n: int, fix: int, fix_max: int, tag16: int, tag32: int, tag8: Optional[int] = None) -> None:
        if n <= fix_max:
            out.append(fix | n)
        elif tag8 is not None and n < 2**8:
            out.extend(bytes([tag8, n]))
        elif n < 2**16:
            out.append(tag16)
            out.extend(n.to_bytes(2, "big"))
        elif n < 2**32:
            out.append(tag32)
            out.extend(n.to_bytes(4, "big"))
        else:
            raise ValueError("too long for msgpack")

    def enc(v: object) -> None:
        if v is None:
            out.append(0xC0)
        elif v is True:
            out.append(0xC3)
        elif v is False:
            out.append(0xC2)
        elif isinstance(v, int):
            if 0 <= v < 0x80:
                out.append(v)
            elif -32 <= v < 0:
                out.append(v & 0xFF)
            elif v >= 0:
                for tag, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
                    if v < 2 ** (8 * size):
                        out.append(tag)
                        out.extend(v.to_bytes(size, "big"))
                        return
                raise ValueError("integer too large for msgpack")
            else:
                for tag, size in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
                    if v >= -(2 ** (8 * size - 1)):
                        out.append(tag)
                        out.extend(v.to_bytes(size, "big", signed=True))
                        return
                raise ValueError("integer too small for msgpack")
        elif isinstance(v, str):
            b = v.encode("utf-8")
            length(len(b), 0xA0, 31, 0xDA, 0xDB, tag8=0xD9)
            out.extend(b)
        elif isinstance(v, (list, tuple)):
            length(len(v), 0x90, 15, 0xDC, 0xDD)
            for item in v:
                enc(item)
        elif isinstance(v, dict):
            length(len(v), 0x80, 15, 0xDE, 0xDF)
            for k, item in v.items():
                enc(k)
                enc(item)
        else:
            raise TypeError(f"cannot msgpack {type(v).__name__}")

    enc(value)
    return bytes(out)


def hyperliquid_action_hash(
    msgpack: bytes, nonce: int, vault_address: Optional[str], expires_after: Optional[int]
) -> bytes:
    """keccak(msgpack ‖ nonce (8 bytes BE) ‖ 0x00 | 0x01 ‖ vault) ‖
    [0x00 ‖ expires_after (8 bytes BE)]), as the venue hashes an L1 action."""
    data = msgpack + nonce.to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01" + bytes.fromhex(vault_address[2:])
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak256(data)


def hyperliquid_l1_digest(action_hash: bytes, is_mainnet: bool) -> bytes:
    """The EIP-712 digest of ``Agent{source, connectionId}`` in the
    "Exchange" domain (version 1, chain id 1337, zero verifying contract),
    with ``source`` "a" on mainnet and "b" on testnet."""
    return eip712_digest(
        "Exchange",
        "1",
        1337,
        "Agent",
        [("source", "string"), ("connectionId", "bytes32")],
        {"source": "a" if is_mainnet else "b", "connectionId": action_hash},
    )


def _eip712_encode_value(kind: str, value: object) -> bytes:
    if kind == "string":
        assert isinstance(value, str)
        return keccak256(value.encode("utf-8"))
    if kind == "address":
        assert isinstance(value, str) and value[:2] == "0x" and len(value) == 42
        return bytes(12) + bytes.fromhex(value[2:])
    if kind == "bool":
        assert isinstance(value, bool)
        return int(value).to_bytes(32, "big")
    if kind.startswith("uint"):
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return value.to_bytes(32, "big")
    if kind == "bytes32":
        assert isinstance(value, bytes) and len(value) == 32
        return value
    raise ValueError(f"EIP-712 type {kind} not supported here")


def eip712_digest(
    name: str, version: str, chain_id: int, primary: str, fields: List[Tuple[str, str]], message: Dict[str, object]
) -> bytes:
    """EIP-712 digest of a flat struct (atomic field types only) in a domain
    of name, version, chainId and a zero verifyingContract."""
    domain = keccak256(
        keccak256(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
        + keccak256(name.encode())
        + keccak256(version.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(32)
    )
    type_hash = keccak256(f"{primary}({','.join(f'{t} {n}' for n, t in fields)})".encode())
    struct = keccak256(type_hash + b"".join(_eip712_encode_value(t, message[n]) for n, t in fields))
    return keccak256(b"\x19\x01" + domain + struct)


# The EIP-712 struct each user-signed action is signed as (the venue's spec).
HYPERLIQUID_USER_TYPES = {
    "usdSend": ("UsdSend", [("destination", "string"), ("amount", "string"), ("time", "uint64")]),
    "withdraw3": ("Withdraw", [("destination", "string"), ("amount", "string"), ("time", "uint64")]),
    "spotSend": (
        "SpotSend",
        [("destination", "string"), ("token", "string"), ("amount", "string"), ("time", "uint64")],
    ),
    "usdClassTransfer": ("UsdClassTransfer", [("amount", "string"), ("toPerp", "bool"), ("nonce", "uint64")]),
    "approveAgent": (
        "ApproveAgent",
        [("agentAddress", "address"), ("agentName", "string"), ("nonce", "uint64")],
    ),
    "approveBuilderFee": (
        "ApproveBuilderFee",
        [("maxFeeRate", "string"), ("builder", "address"), ("nonce", "uint64")],
    ),
    "sendAsset": (
        "SendAsset",
        [
            ("destination", "string"),
            ("sourceDex", "string"),
            ("destinationDex", "string"),
            ("token", "string"),
            ("amount", "string"),
            ("fromSubAccount", "string"),
            ("nonce", "uint64"),
        ],
    ),
}


def hyperliquid_user_digest(action: Dict[str, object]) -> bytes:
    """The digest a user-signed action is signed as: the struct
    ``HyperliquidTransaction:<Name>`` (``hyperliquidChain`` first) in the
    "HyperliquidSignTransaction" domain with chain id ``signatureChainId``.
    An absent ``agentName`` is signed as the empty string."""
    name, fields = HYPERLIQUID_USER_TYPES[str(action["type"])]
    message = dict(action)
    message.setdefault("agentName", "")
    return eip712_digest(
        "HyperliquidSignTransaction",
        "1",
        int(str(action["signatureChainId"]), 16),
        f"HyperliquidTransaction:{name}",
        [("hyperliquidChain", "string")] + fields,
        message,
    )
