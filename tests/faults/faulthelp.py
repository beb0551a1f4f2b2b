"""Helpers of the fault suite alone: the long-run switch, binary records for feeding hostile cases to
PHP, reading logs as bytes, a size-limited tmpfs. Everything shared lives in tests/support."""
import contextlib
import os
import pathlib
import struct
import subprocess
import time

LONG = os.environ.get("BANLOG_LONG", "") not in ("", "0")


def pack_records(records):
    """Length-prefixed binary records (each a tuple of bytes fields) for PHP's `read_records()`."""
    out = bytearray()
    for rec in records:
        out += struct.pack("<I", len(rec))
        for field in rec:
            out += struct.pack("<I", len(field)) + field
    return bytes(out)


# PHP side of pack_records: yields arrays of strings.
PHP_READ_RECORDS = r'''
function read_records($path) {
    $d = file_get_contents($path); $p = 0; $n = strlen($d);
    while ($p < $n) {
        $k = unpack("V", $d, $p)[1]; $p += 4; $rec = [];
        for ($j = 0; $j < $k; $j++) { $l = unpack("V", $d, $p)[1]; $p += 4; $rec[] = substr($d, $p, $l); $p += $l; }
        yield $rec;
    }
}
'''


def read_lines(paths):
    """All lines of several files, as bytes, without their newline; and the files' raw tails."""
    lines, tails = [], []
    for p in paths:
        data = pathlib.Path(p).read_bytes()
        parts = data.split(b"\n")
        tails.append(parts[-1])
        lines += parts[:-1]
    return lines, tails


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of `size` mounted at `path`, unmounted afterwards whatever happens."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(path)], check=False)
