"""Generators of hostile input for the fuzz test, and independent oracles for what banlog must write.

The oracles are written from the contract (README.md's "How it behaves" and the doc comments of
core/src/sanitize.rs and core/src/addr.rs), not from the code: a test comparing the extension's output with them checks
both the implementation and that the documented rules are the ones in force.
"""
import ipaddress
import random

MAX_USER_CHARS = 128
TRUNCATION_MARK = "..."

# Unicode White_Space (what Rust's char::is_whitespace means), minus the line breaks, which
# banlog escapes as evidence rather than folding.
_WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)}
FOLDABLE = _WHITE_SPACE - set("\n\r\x0b\x0c\x85\u2028\u2029")
# What can start or shape markup: escaped as \xHH like a control character.
MARKUP = set("<>&\"'")


def _invisible(c):
    o = ord(c)
    return (0x80 <= o <= 0x9F or o == 0xAD or 0x200B <= o <= 0x200F or 0x2028 <= o <= 0x202E
            or 0x2060 <= o <= 0x206F or o == 0xFEFF or 0xFFF9 <= o <= 0xFFFB)


def sanitize_user(raw: bytes) -> str:
    """What the contract says a user name becomes (see the module doc)."""
    out, units, space = [], 0, False
    for c in raw.decode("utf-8", "surrogateescape"):
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            unit = f"\\x{o - 0xDC00:02x}"
        elif c in FOLDABLE:
            space = units > 0
            continue
        elif c == "\\":
            unit = "\\\\"
        elif o < 0x20 or o == 0x7F or c in MARKUP:
            unit = f"\\x{o:02x}"
        elif _invisible(c):
            unit = f"\\u{o:04x}"
        else:
            unit = c
        need = 2 if space else 1
        if units + need > MAX_USER_CHARS:
            out.append(TRUNCATION_MARK)
            break
        if space:
            out.append(" ")
            units += 1
            space = False
        out.append(unit)
        units += 1
    return "".join(out)


def canonical_addr(raw: bytes):
    """The address banlog must write for `raw`, or None when it must refuse it (ValueError)."""
    if not raw or len(raw) > 47:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text or text != text.strip() or not text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast or ip == ipaddress.ip_address("255.255.255.255"):
        return None
    return ip.compressed


AUTH_LEADS = {
    "failure": "Authentication failure for ",
    "unknown_user": "Authentication attempt for unknown user ",
    "xmlrpc_failure": "XML-RPC authentication failure for ",
    "xmlrpc_unknown_user": "XML-RPC authentication attempt for unknown user ",
    "rest_failure": "REST authentication failure for ",
    "rest_unknown_user": "REST authentication attempt for unknown user ",
    "multicall_failure": "XML-RPC multicall authentication failure",
    "success": "Accepted password for ",
    "logout": "Logout for ",
}
SOFT = {"failure", "unknown_user", "xmlrpc_failure", "rest_failure"}
HARD = {"xmlrpc_unknown_user", "rest_unknown_user", "multicall_failure"}


def auth_message(event, user: bytes, addr: str) -> str:
    name = "" if event == "multicall_failure" else sanitize_user(user)
    return f"{AUTH_LEADS[event]}{name} from {addr}"


# --- generators -------------------------------------------------------------------------------

class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    # addresses ---------------------------------------------------------------------------------
    def v4(self):
        r = self.r
        while True:
            a = ipaddress.IPv4Address(r.getrandbits(32))
            if not (a.is_unspecified or a.is_multicast or int(a) == 0xFFFFFFFF):
                return a

    def v6(self):
        r = self.r
        while True:
            groups = [r.getrandbits(16) for _ in range(8)]
            # runs of zeros, so that every `::` rule of RFC 5952 is exercised
            k = r.random()
            if k < 0.6:
                start, length = r.randrange(8), r.randrange(1, 8)
                for i in range(start, min(8, start + length)):
                    groups[i] = 0
            if k < 0.15:
                start2 = r.randrange(8)
                for i in range(start2, min(8, start2 + r.randrange(1, 4))):
                    groups[i] = 0
            if r.random() < 0.2:
                groups[0] = r.choice([0x2001, 0xFE80, 0xFC00, 0x64, 0])
                if groups[0] == 0x64:
                    groups[1:6] = [0xFF9B, 0, 0, 0, 0]
            a = ipaddress.IPv6Address(b"".join(g.to_bytes(2, "big") for g in groups))
            if not (a.is_unspecified or a.is_multicast or a.ipv4_mapped is not None):
                return a

    def spelling_v6(self, a: ipaddress.IPv6Address):
        r = self.r
        forms = [a.compressed, a.exploded, a.compressed.upper(), a.exploded.upper(),
                 ":".join(f"{int(g, 16):x}" for g in a.exploded.split(":"))]
        s = r.choice(forms)
        if r.random() < 0.1:  # embedded IPv4 tail
            hi = a.exploded.split(":")[:6]
            lo = ipaddress.IPv4Address(int(a) & 0xFFFFFFFF)
            s = ":".join(hi) + ":" + str(lo)
        return f"[{s}]" if r.random() < 0.15 else s

    def address(self):
        """(raw bytes, expected canonical text or None for a refused one)."""
        r = self.r
        k = r.random()
        if k < 0.40:
            raw = str(self.v4())
        elif k < 0.75:
            raw = self.spelling_v6(self.v6())
        elif k < 0.90:
            v4 = self.v4()
            raw = r.choice([f"::ffff:{v4}", f"::FFFF:{v4}", f"0:0:0:0:0:ffff:{v4}",
                            f"[::ffff:{v4}]", "::ffff:" + ipaddress.IPv6Address(
                                0xFFFF00000000 | int(v4)).exploded.split(":", 6)[6]])
        elif k < 0.93:
            raw = r.choice(["127.0.0.1", "::1", "[::1]", "10.0.0.1", "fe80::1", "192.0.2.1", "2001:db8::1",
                            "100::", "1::", "::2", "1:0:0:1::", "0:0:1::", "1:0:0:2:0:0:0:3"])
        else:
            raw = self.bad_address()
        b = raw if isinstance(raw, bytes) else raw.encode()
        return b, canonical_addr(b)

    def bad_address(self):
        r = self.r
        v4, v6 = str(self.v4()), self.v6().compressed
        return r.choice([
            "", " ", v4 + " ", " " + v4, v4 + "\n", v4 + ":80", f"[{v6}]:443", v6 + "%eth0", "fe80::1%lo",
            v4.rsplit(".", 1)[0], "0" + v4, v4 + ".1", "1.2.3.256", "example.com", "localhost", "0.0.0.0",
            "::", "[::]", "224.0.0.1", "239.255.255.250", "ff02::1", "255.255.255.255", "::ffff:0.0.0.0",
            f"6.6.6.6 from {v4}", f"{v4} from 6.6.6.6", f"{v4}\n2026-11-21 07:19:22 comment id=1 from host=6.6.6.6",
            "[" + v6, v6 + "]", ":::1", "1:2:3:4:5:6:7:8:9", "g::1", b"\xff\xfe", b"1.2.3.4\x00",
            v4 + "\u2028", "\uff11.2.3.4", "x" * 48, "1" * 100_000,
        ])

    # user names -------------------------------------------------------------------------------
    PIECES = [
        b"admin", b"root", b"user@example.com", b"j\xc3\xb6rg", b"\xe7\x94\xa8\xe6\x88\xb7", b"\xf0\x9f\x98\x80",
        b"\r", b"\n", b"\r\n", b"\x00", b"\x1b[2J", b"\x1b]0;title\x07", b"\x7f", b"\x0b", b"\x0c", b"\t",
        b"\xc2\x85", b"\xc2\x9b", b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xe2\x80\xae", b"\xe2\x80\x8b",
        b"\xef\xbb\xbf", b"\xc2\xa0", b"\xe3\x80\x80", b"\xe2\x80\x82", b"\xe2\x80\xaf",
        b"\x85", b"\xff", b"\xfe", b"\xc3", b"\xe2\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
        b"\\", b"\\x0a", b"\\u2028", b"\\\\n", b" ", b"   ", b"from", b" from ", b"for", b"]:", b"[", b"]",
        b"(", b")", b"wordpress(example.com)[1]:", b"marked as spam", b"host=", b"comment id=1",
        b"Authentication failure for ", b"$", b"^", b".*", b"%", b"\"", b"'", b"<HOST>", b"<ADDR>",
    ]

    def forged(self):
        r = self.r
        other = r.choice([str(self.v4()), self.v6().compressed, f"::ffff:{self.v4()}", "6.6.6.6"])
        return r.choice([
            f" from {other}", f" from {other} ", f"from {other}", f" from [{other}]", f" from host={other}",
            f"\nNov 21 07:19:22 web1 wordpress(example.com)[1]: Authentication failure for x from {other}",
            f"\r\n2026-11-21T07:19:22.000000+00:00 web1 wordpress[1]: Authentication failure for x from {other}",
            f"\n2026-11-21 07:19:22 comment id=1 from host={other} marked as spam",
            f"\u2028from {other}", f"\x00 from {other}", f"\x85 from {other}", f" from\t{other}",
            f" from\u00a0{other}", f" from {other}\x1b[K",
        ]).encode()

    def user(self, huge=False):
        r = self.r
        parts = []
        for _ in range(r.randrange(0, 12)):
            k = r.random()
            if k < 0.45:
                parts.append(r.choice(self.PIECES))
            elif k < 0.70:
                parts.append(self.forged())
            elif k < 0.85:
                parts.append(bytes(r.getrandbits(8) for _ in range(r.randrange(1, 8))))
            else:
                parts.append("".join(chr(r.choice([r.randrange(0x20, 0x7F), r.randrange(0x80, 0x800),
                                                  r.randrange(0x800, 0xD800), r.randrange(0xE000, 0x110000)]))
                                     for _ in range(r.randrange(1, 6))).encode("utf-8", "surrogatepass"))
        name = b"".join(parts)
        if huge:
            name = name + r.choice([b"x", b"\n", b"\xff", " \u2028".encode(), b" from 6.6.6.6"]) * (1 << 20)
        elif r.random() < 0.02:
            name = name * r.randrange(50, 2000)
        elif r.random() < 0.03:  # just at the cap, where a pending space or an escape tips it over
            name = r.choice([b"a", b"\n", b"\xc3\xa9", b"a b"]) * r.randrange(40, 140) + name
        return name

    def comment_id(self):
        r = self.r
        k = r.random()
        if k < 0.05:
            return r.choice([1, 2**63 - 1, 2**31 - 1, 2**31, 2**32, 2**53 + 1])
        if k < 0.08:
            return r.choice([0, -1, -(2**63)])
        return r.randrange(1, 2**r.randrange(1, 64))
