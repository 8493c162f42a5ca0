"""`bench mine`: scan a nonce window of a real header on one backend, with live MH/s and ETA.

The window is scanned in chunks sized to about a quarter second each, so the progress bar moves and
Ctrl-C stops promptly; every hit the backend returns is re-hashed with hashlib here once more.
"""

from __future__ import annotations

import time

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bench import backends, console
from bench.args import whole_number
from bench.errors import UsageError, VerificationError
from bench.files import emit_json
from kernels.sha256 import reference as ref

HELP = "scan a nonce window of a real 80-byte block header"
EPILOG = """examples:
  python -m bench mine --header $(cat genesis.hex) --count 1000000
  python -m bench mine --header HEX160 --backend opencl:0 --json result.json"""


def add_arguments(p) -> None:
    p.add_argument("--header", required=True, metavar="HEX160", help="the 80-byte header as 160 hex digits")
    p.add_argument("--start", type=whole_number, default=0, metavar="N", help="first nonce (default 0)")
    p.add_argument("--count", type=whole_number, default=None, metavar="N",
                   help="nonces to scan (default: all from --start to 2**32-1)")
    p.add_argument("--target", metavar="HEX64",
                   help="256-bit target as 64 hex digits (default: from the header's bits field)")
    p.add_argument("--backend", default=backends.DEFAULT_CPU, metavar="NAME[:INDEX]",
                   help=f"backend and device (default {backends.DEFAULT_CPU}; see `python -m bench backends`)")
    p.add_argument("--json", metavar="PATH|-", help="write the result as JSON to PATH ('-' = stdout, nothing else there)")

CHUNK_SECONDS = 0.25
FIRST_CHUNK = 1 << 16
PROGRESS_AFTER_S = 1.0  # scans expected to take longer than this get a progress bar


def parse_inputs(args) -> tuple[bytes, int, int, int]:
    """Header, start, count, target from the arguments; UsageError names what is wrong."""
    try:
        header = ref.parse_header_hex(args.header)
        start = args.start
        count = (ref.MAX_NONCE + 1 - start) if args.count is None else args.count
        ref.validate_range(start, count)
        target = ref.parse_target_hex(args.target) if args.target else ref.header_target(header)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return header, start, count, target


class _Chunks:
    """Walks [start, start+count) in chunks whose size follows the measured rate."""

    def __init__(self, start: int, count: int):
        self.next, self.end, self.size = start, start + count, FIRST_CHUNK

    def take(self) -> tuple[int, int] | None:
        if self.next >= self.end:
            return None
        n = min(self.size, self.end - self.next)
        chunk = (self.next, n)
        self.next += n
        return chunk

    def adapt(self, rate: float) -> None:
        self.size = max(FIRST_CHUNK, int(rate * CHUNK_SECONDS))


def main(args) -> int:
    header, start, count, target = parse_inputs(args)
    selected = backends.require("sha256d", args.backend)[0]
    quiet = args.json == "-"
    msg = console.err()
    out = console.out(quiet)

    def scan(*window):
        try:
            return selected.module.scan(*window, device=selected.device.index)
        except Exception as exc:  # noqa: BLE001 - a compile, launch or driver error: one line, exit 2
            raise backends.failure(selected.label, exc) from None

    t0 = time.perf_counter()
    scan(header, 0, 64, ref.MAX_TARGET)  # JIT / compile / upload
    compile_s = time.perf_counter() - t0

    found: list[int] = []
    chunks = _Chunks(start, count)
    done = 0
    progress = Progress(
        TextColumn(f"[bold]{selected.label}[/]"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=out,
        transient=True,
        disable=quiet,
    )
    task = None
    begin = time.perf_counter()
    try:
        with progress:
            while (chunk := chunks.take()) is not None:
                c0 = time.perf_counter()
                hits = scan(header, chunk[0], chunk[1], target)
                elapsed = time.perf_counter() - c0
                done += chunk[1]
                chunks.adapt(chunk[1] / max(elapsed, 1e-9))
                for nonce in hits:
                    found.append(nonce)
                    if not quiet:
                        progress.console.print(
                            f"found nonce {nonce}  hash {ref.display_hex(ref.block_hash(header, nonce))}"
                        )
                rate = done / max(time.perf_counter() - begin, 1e-9)
                if task is None and (count - done) / rate > PROGRESS_AFTER_S:
                    task = progress.add_task("scan", total=count, completed=done, rate="")
                if task is not None:
                    progress.update(task, completed=done, rate=console.si(rate, "H/s"))
    except KeyboardInterrupt:
        msg.print(f"interrupted after {done} of {count} nonces")
        raise
    seconds = time.perf_counter() - begin

    bad = [n for n in found if not ref.meets_target(header, n, target)]
    if bad:
        raise VerificationError(f"{selected.label} returned nonce(s) {bad} that do not meet the target")
    result = {
        "backend": selected.backend,
        "device": selected.device.name,
        "start": start,
        "count": count,
        "hashes": count,
        "seconds": seconds,
        "hashes_per_s": count / seconds if seconds > 0 else None,
        "target": ref.target_hex(target),
        "found": [{"nonce": n, "hash": ref.display_hex(ref.block_hash(header, n))} for n in found],
        "compile_s": compile_s,
    }
    if args.json:
        emit_json(result, args.json)
    if not quiet:
        if not found:
            out.print(f"no nonce in [{start}, {start + count}) meets target {ref.target_hex(target)}")
        out.print(
            f"{selected.label} ({selected.device.name}): {count} nonces in {seconds:.3f} s = "
            f"[bold]{console.si(result['hashes_per_s'], 'H/s')}[/] (compile/warm-up {compile_s:.2f} s, excluded)"
        )
    return 0
