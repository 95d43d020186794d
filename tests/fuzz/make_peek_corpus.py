#!/usr/bin/env python3
"""Writes the seed corpora of the name readers' fuzz targets (tests/fuzz/corpus/<target>/):

  client_hello_reader_fuzz: real ClientHellos written by OpenSSL (Python's ssl module, into a
    memory BIO): TLS 1.3 and 1.2, with and without SNI, a large ALPN list, re-framed into 3 and
    into 1-byte TLS records, with an encrypted_client_hello extension, with a second server_name.
  http_host_reader_fuzz: HTTP/1.x request streams like the unit tests' (Host with port, IPv6,
    absolute-form, two requests with a chunked body between them, CONNECT, Upgrade).
  proxy_header_fuzz: PROXY protocol headers with the client's first bytes after them: the ones
    HAProxy 2.6 sent in the unit tests' capture (tests/unit/peek/proxy_header_test.cpp: v2 over
    TLS with every TLV, TCP6, a mapped source, v1, the LOCAL health check) and hand-written ones
    (UDP, UNIX, UNSPEC, unknown TLVs, a CRC32C, v1 UNKNOWN), and a stream with no header.

Each seed is named by the SHA-1 of its bytes, as make_corpus.py names the others. Run again when
the readers' formats change (naming targets writes only those; OpenSSL's ClientHellos differ on
each run):

    tests/fuzz/make_peek_corpus.py [target...]
"""
import hashlib
import os
import ssl
import struct
import sys

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def client_hello(sni=None, tls12=False, alpn_bytes=0):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    protocols = ["h2", "http/1.1"]
    while sum(len(p) + 1 for p in protocols) + 201 <= alpn_bytes:
        protocols.append(chr(ord("a") + len(protocols) % 26) * 200)
    ctx.set_alpn_protocols(protocols)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def handshake_of(records):
    out, at = b"", 0
    while at < len(records):
        length = struct.unpack(">H", records[at + 3:at + 5])[0]
        out += records[at + 5:at + 5 + length]
        at += 5 + length
    return out


def frame(message, fragment):
    out = b""
    for at in range(0, len(message), fragment):
        piece = message[at:at + fragment]
        out += struct.pack(">BHH", 22, 0x0301 if at == 0 else 0x0303, len(piece)) + piece
    return out


def add_extension(message, ext_type, body):
    """The ClientHello message with one more extension, every length fixed."""
    at = 4 + 2 + 32
    at += 1 + message[at]
    at += 2 + struct.unpack(">H", message[at:at + 2])[0]
    at += 1 + message[at]
    ext_len = struct.unpack(">H", message[at:at + 2])[0]
    extensions = message[at + 2:at + 2 + ext_len] + struct.pack(">HH", ext_type, len(body)) + body
    body_out = message[4:at] + struct.pack(">H", len(extensions)) + extensions
    return bytes([1]) + struct.pack(">I", len(body_out))[1:] + body_out


def server_name(*names):
    entries = b"".join(b"\x00" + struct.pack(">H", len(n)) + n for n in names)
    return struct.pack(">H", len(entries)) + entries


def hello_seeds():
    seeds = [
        client_hello("api.example.com"),
        client_hello("legacy.example.org", tls12=True),
        client_hello(None),
        client_hello("API.Example.COM."),
        client_hello("big.example.com", alpn_bytes=2000),
    ]
    message = handshake_of(client_hello("three.example.net", alpn_bytes=600))
    seeds.append(frame(message, (len(message) + 2) // 3))
    small = handshake_of(client_hello("tiny.example"))
    seeds.append(frame(small, 1)[:600])
    seeds.append(frame(add_extension(small, 0xfe0d, bytes([0, 0, 1, 0, 1, 0x42, 0, 32, 1, 2, 3])), 16384))
    seeds.append(frame(add_extension(small, 0, server_name(b"evil.example")), 16384))
    return seeds


def http_seeds():
    return [s.encode() for s in [
        "GET /index.html HTTP/1.1\r\nUser-Agent: curl/7.88\r\nHost: Example.COM\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: api.example.com.:8080\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\n\r\n",
        "GET http://example.com:80/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: good.example\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n26;ext=1\r\nGET / HTTP/1.1\r\nHost: body.example\r\n\r\n\r\n"
        "0\r\nHost: trailer.example\r\n\r\nGET /b HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello"
        "GET /y HTTP/1.1\r\nHost: a.example:8080\r\nConnection: close\r\n\r\n",
        "GET /chat HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: api.example..:8080\r\n\r\n",  # once read as "api.example."
    ]]


def crc32c(data):
    """RFC 4960 Appendix B, bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def proxy_v2(ver_cmd, fam, body):
    return (bytes.fromhex("0d0a0d0a000d0a515549540a") + bytes([ver_cmd, fam]) +
            struct.pack(">H", len(body)) + body)


def tlv(kind, value):
    return struct.pack(">BH", kind, len(value)) + value


def proxy_seeds():
    captured = [  # HAProxy 2.6.12, as in tests/unit/peek/proxy_header_test.cpp
        "0d0a0d0a000d0a515549540a2111008b7f0000017f000001936842690300047e"
        "83a16802000f6170692e6578616d706c652e636f6d05000f3132372e302e302e"
        "313a33373733362000510700000000210007544c5376312e3322000a776f726b"
        "6c6f61642d61250005454332353624001165636473612d776974682d53484132"
        "3536230016544c535f4145535f3235365f47434d5f53484133383468656c6c6f"
        "2d7632746c730a",
        "0d0a0d0a000d0a515549540a2121002400000000000000000000000000000001"
        "00000000000000000000000000000001ba32426a68656c6c6f2d76322d36",
        "0d0a0d0a000d0a515549540a2121002400000000000000000000ffff7f000001"
        "00000000000000000000ffff7f000001d93e426d68656c6c6f2d76322d6d6170"
        "706564",
        "0d0a0d0a000d0a515549540a20000000",
    ]
    tcp4 = bytes.fromhex("c0000201c6336407c73801bb")
    with_crc = proxy_v2(0x21, 0x11, tcp4 + tlv(0x02, b"api.example.com") + tlv(0x03, bytes(4)))
    with_crc = with_crc[:-4] + struct.pack(">I", crc32c(with_crc))
    ssl = tlv(0x20, bytes([7, 0, 0, 0, 0]) + tlv(0x21, b"TLSv1.3") + tlv(0x22, b"workload-a") +
              tlv(0x26, b"?"))
    ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    return [bytes.fromhex(h) for h in captured] + [
        with_crc + b"GET / HTTP/1.1\r\n",
        proxy_v2(0x21, 0x11, tcp4 + tlv(0x04, b"") + tlv(0xE0, b"custom") + tlv(0x01, b"h2") +
                 ssl + tlv(0x05, b"id-1")),
        proxy_v2(0x21, 0x22, bytes(15) + b"\x01" + bytes(15) + b"\x02" + b"\x03\xe8\x00\x35"),
        proxy_v2(0x21, 0x31, bytes(216) + tlv(0x02, b"u.example")),
        proxy_v2(0x21, 0x00, tlv(0x02, b"x.example")),
        proxy_v2(0x20, 0x11, tcp4),
        b"PROXY TCP4 127.0.0.1 127.0.0.1 34558 17003\r\nhello-v1-4",
        b"PROXY TCP6 ::1 ::1 60262 17004\r\nhello-v1-6",
        b"PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 48678 17006\r\nhello",
        b"PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n",
        f"PROXY UNKNOWN {ff} {ff} 65535 65535\r\n".encode(),
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        # Found by an early run: its detail quoted more of a bad protocol as more bytes came.
        b"PROXY UNKNOWNsA\x08\x00``\x00\x00 UNKN\r\nGET / HTTP/1.1\r\n",
    ]


def connect_seeds():
    # A ClientHello-shaped record: the tunnel's first bytes, sent with the head.
    hello = (bytes.fromhex("160301002e0100002a0303") + bytes(32) +
             bytes.fromhex("000002130101000000"))
    return [s.encode() for s in [
        "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n"
        "User-Agent: curl/8.5.0\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        "CONNECT API.Example.COM.:443 HTTP/1.1\r\nHost: api.example.com\r\n"
        "Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n\r\n",
        "CONNECT 203.0.113.10:443 HTTP/1.1\r\nHost: 203.0.113.10:443\r\n"
        "Egressd-Agent-Conn: 6f1c2a9e-42\r\n\r\n",
        "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\n\r\n",
        "CONNECT [::ffff:127.0.0.1]:22 HTTP/1.0\r\n\r\n",
        "CONNECT [64:ff9b::7f00:1]:22 HTTP/1.1\r\n\r\n",
        "CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
        "CONNECT a.example:443 HTTP/2.0\r\n\r\n",
        "CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n",
        "CONNECT 2130706433:443 HTTP/1.1\r\nHost: 2130706433:443\r\n\r\n",
        "CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n",
        "CONNECT a.example:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "CONNECT a.example HTTP/1.1\r\n\r\n",
        "CONNECT user@[fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n",
    ]] + [
        b"CONNECT tls.example:443 HTTP/1.1\r\nHost: tls.example:443\r\n\r\n" + hello,
        # Found by an early run: 400 (bad version) read at once, 431 read in pieces under a
        # 64-byte limit, when Beast was fed the pieces; the reader now hands Beast whole heads.
        b"CONNECT api.example.com:443 HTTP/1.\xcf\r\nHost: api.example.com:443\r\n"
        b"User-Agent: curl/8.5.0\r\nProxy-Connection: Keep-Alive\r\n\r\n",
    ]


def write(target, seeds):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))
    for seed in seeds:
        with open(os.path.join(directory, hashlib.sha1(seed).hexdigest()), "wb") as f:
            f.write(seed)
    print(f"{target}: {len(seeds)} seeds")


TARGETS = {
    "client_hello_reader_fuzz": hello_seeds,
    "http_host_reader_fuzz": http_seeds,
    "proxy_header_fuzz": proxy_seeds,
    "connect_request_fuzz": connect_seeds,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        write(name, TARGETS[name]())
