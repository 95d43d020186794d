"""Real TLS ClientHellos for the name step's cases, made by Python's ssl (OpenSSL) on a MemoryBIO.

    hello = client_hello("api.lab.example")          # the bytes a TLS client writes first
    client_hello(None)                               # no SNI extension
    client_hello("api.lab.example", min_size=17000)  # padded with ALPN names past 16 KiB
    split_records(hello, 3)                          # the same handshake over three TLS records
    sni_of(hello)                                    # the SNI a reader finds in it
    with_grease_ech(hello)                           # plus a GREASE encrypted_client_hello

Nothing here is hand-made but the record split and the ECH extension: OpenSSL writes the
ClientHello (and, when it is larger than a record holds, splits it over records itself);
`split_records` re-frames the one handshake message into n records, which TLS allows (RFC 8446
5.1) and real clients do; `with_grease_ech` adds the extension a client without an ECH config
sends (this OpenSSL has no ECH): random bytes in the outer ECHClientHello's shape.
"""

from __future__ import annotations

import os
import ssl
import struct

RECORD_HANDSHAKE = 22
EXT_ECH = 0xFE0D  # encrypted_client_hello (RFC 9849)


def client_hello(sni: str | None, min_size: int = 0, alpn: list[str] | None = None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    protos = list(alpn or [])
    if min_size:
        # 200-byte ALPN names: enough of them make the ClientHello larger than `min_size`.
        protos += [f"x-{i:04d}-".ljust(200, "p") for i in range(min_size // 200 + 1)]
    if protos:
        ctx.set_alpn_protocols(protos)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=sni)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    if not data or data[0] != RECORD_HANDSHAKE:
        raise RuntimeError(f"OpenSSL wrote no ClientHello: {data[:16]!r}")
    if len(data) < min_size:
        raise RuntimeError(f"ClientHello is {len(data)} bytes, wanted at least {min_size}")
    return data


def records(data: bytes) -> list[tuple[int, int, bytes]]:
    """The TLS records in `data`: (content type, legacy version, payload)."""
    out, i = [], 0
    while i + 5 <= len(data):
        ctype, version, length = struct.unpack(">BHH", data[i:i + 5])
        out.append((ctype, version, data[i + 5:i + 5 + length]))
        i += 5 + length
    if i != len(data):
        raise ValueError("trailing bytes after the last whole record")
    return out


def split_records(hello: bytes, n: int) -> bytes:
    """The ClientHello's handshake message re-framed as `n` handshake records of about equal size."""
    recs = records(hello)
    version = recs[0][1]
    message = b"".join(payload for _, _, payload in recs)
    step = -(-len(message) // n)
    parts = [message[i:i + step] for i in range(0, len(message), step)]
    if len(parts) != n:
        raise ValueError(f"cannot split {len(message)} bytes into {n} records")
    return b"".join(struct.pack(">BHH", RECORD_HANDSHAKE, version, len(p)) + p for p in parts)


def sni_of(hello: bytes) -> str | None:
    """The server_name of the ClientHello in `hello` (any record framing), None without one."""
    msg = _message(hello)
    if msg[0] != 1:
        raise ValueError("not a ClientHello")
    i = _extensions_offset(msg)
    end = i + 2 + struct.unpack(">H", msg[i:i + 2])[0]
    i += 2
    while i < end:
        etype, elen = struct.unpack(">HH", msg[i:i + 4])
        body = msg[i + 4:i + 4 + elen]
        if etype == 0:  # server_name: list length, type 0, name length, name
            nlen = struct.unpack(">H", body[3:5])[0]
            return body[5:5 + nlen].decode("ascii")
        i += 4 + elen
    return None


def _message(hello: bytes) -> bytes:
    return b"".join(payload for _, _, payload in records(hello))


def _extensions_offset(msg: bytes) -> int:
    """Offset of the extensions' 2-byte length in a ClientHello handshake message."""
    i = 4 + 2 + 32  # handshake header, legacy_version, random
    i += 1 + msg[i]  # session id
    i += 2 + struct.unpack(">H", msg[i:i + 2])[0]  # cipher suites
    i += 1 + msg[i]  # compression methods
    return i


def with_grease_ech(hello: bytes) -> bytes:
    """The ClientHello (one record) with a GREASE encrypted_client_hello extension first in its
    extensions: type outer (0), HKDF-SHA256 / AES-128-GCM, a random config id, a 32-byte enc and a
    random 176-byte payload, as a client without an ECH config sends (draft-ietf-tls-esni 6.2)."""
    recs = records(hello)
    if len(recs) != 1:
        raise ValueError("with_grease_ech takes a ClientHello in one record")
    version, msg = recs[0][1], recs[0][2]
    body = (bytes([0]) + struct.pack(">HH", 0x0001, 0x0001) + os.urandom(1)
            + struct.pack(">H", 32) + os.urandom(32) + struct.pack(">H", 176) + os.urandom(176))
    ext = struct.pack(">HH", EXT_ECH, len(body)) + body
    i = _extensions_offset(msg)
    ext_len = struct.unpack(">H", msg[i:i + 2])[0] + len(ext)
    new = msg[4:i] + struct.pack(">H", ext_len) + ext + msg[i + 2:]
    new = bytes([msg[0]]) + len(new).to_bytes(3, "big") + new
    return struct.pack(">BHH", RECORD_HANDSHAKE, version, len(new)) + new


def extensions(hello: bytes) -> list[int]:
    """The extension types of the ClientHello in `hello`, in order."""
    msg = _message(hello)
    i = _extensions_offset(msg)
    end = i + 2 + struct.unpack(">H", msg[i:i + 2])[0]
    i += 2
    out = []
    while i < end:
        etype, elen = struct.unpack(">HH", msg[i:i + 4])
        out.append(etype)
        i += 4 + elen
    if i != end or end != len(msg):
        raise ValueError("extensions do not end where the ClientHello does")
    return out
