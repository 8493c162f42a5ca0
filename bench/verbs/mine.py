"""`bench mine`: scan a nonce window of a real header on one backend, with live MH/s and ETA.

The window is scanned in chunks sized to about a quarter second each, so the progress bar moves and
Ctrl-C stops promptly; every hit the backend returns is re-hashed with hashlib here once more. Ctrl-C,
SIGTERM and SIGHUP save the partial scan (the nonces covered, the hits so far, `complete: false`) to --json
and exit 130 / 143 / 129; the --json path is checked before anything is compiled.
"""

from __future__ import annotations

import time

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bench import backends, console
from bench.args import whole_number
from bench.errors import UsageError, VerificationError
from bench.files import check_destination, dumps, emit_json
from bench.signals import Stopped, Stops
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
    p.add_argument("--json", metavar="PATH|-",
                   help="write the result as JSON to PATH ('-' = stdout, nothing else there); an interrupted scan "
                        "is written too, marked complete: false")

CHUNK_SECONDS = 0.25
FIRST_CHUNK = 1 << 16
PROGRESS_AFTER_S = 1.0  # scans expected to take longer than this get a progress bar


def parse_inputs(args) -> tuple[bytes, int, int, int]:
    """Header, start, count, target from the arguments; UsageError names what is wrong."""
    start = args.start
    if args.count is None and not 0 <= start <= ref.MAX_NONCE:
        raise UsageError(f"--start {start} is outside the nonces 0..{ref.MAX_NONCE} (2**32-1); give a start in that range")
    try:
        header = ref.parse_header_hex("".join(args.header.split()))  # hex pasted with spaces or line breaks
        count = (ref.MAX_NONCE + 1 - start) if args.count is None else args.count
        ref.validate_range(start, count)
        target = parse_target(args.target) if args.target else ref.header_target(header)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return header, start, count, target


HEX = set("0123456789abcdefABCDEF")


def parse_target(text: str) -> int:
    """--target: exactly 64 hex digits (an optional 0x); no sign, no underscores; not zero."""
    digits = text.strip()
    digits = digits[2:] if digits[:2] in ("0x", "0X") else digits
    bad = next((c for c in digits if c not in HEX), None)
    if bad is not None:
        raise ValueError(f"--target is not hex (found {bad!r}); give 64 hex digits, e.g. 00000000ffff" + "0" * 52)
    target = ref.parse_target_hex(digits)
    if target == 0:
        raise ValueError("--target 0 is met by no hash; give a positive 256-bit target such as 00000000ffff" + "0" * 52)
    return target


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


def _result(selected, start: int, count: int, done: int, seconds: float, target: int, header: bytes,
            found: list[int], compile_s: float, complete: bool) -> dict:
    return {
        "backend": selected.backend,
        "device": selected.device.name,
        "complete": complete,
        "start": start,
        "count": count,
        "hashes": done,
        "covered": [start, start + done],  # nonces [covered[0], covered[1]) were scanned
        "seconds": seconds,
        "hashes_per_s": done / seconds if seconds > 0 else None,
        "target": ref.target_hex(target),
        "found": [{"nonce": n, "hash": ref.display_hex(ref.block_hash(header, n))} for n in found],
        "compile_s": compile_s,
    }


def main(args) -> int:
    header, start, count, target = parse_inputs(args)
    check_destination(args.json, "file", "--json")
    selected = backends.require("sha256d", args.backend)[0]
    quiet = args.json == "-"
    msg = console.err()
    out = console.out(quiet)
    label = console.text(selected.label)

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
        TextColumn(f"[bold]{label}[/]"),
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
    with Stops() as stops:
        try:
            with progress:
                while (chunk := chunks.take()) is not None:
                    c0 = time.perf_counter()
                    hits = scan(header, chunk[0], chunk[1], target)
                    elapsed = time.perf_counter() - c0
                    chunks.adapt(chunk[1] / max(elapsed, 1e-9))
                    for nonce in hits:
                        found.append(nonce)
                        if not quiet:
                            progress.console.print(
                                f"found nonce {nonce}  hash {ref.display_hex(ref.block_hash(header, nonce))}"
                            )
                    done += chunk[1]  # after the hits: a stop between the two never loses one
                    rate = done / max(time.perf_counter() - begin, 1e-9)
                    if task is None and (count - done) / rate > PROGRESS_AFTER_S:
                        task = progress.add_task("scan", total=count, completed=done, rate="")
                    if task is not None:
                        progress.update(task, completed=done, rate=console.si(rate, "H/s"))
        except KeyboardInterrupt as exc:
            stops.hold()
            stop = exc if isinstance(exc, Stopped) else Stopped()
            seconds = time.perf_counter() - begin
            partial = _result(selected, start, count, done, seconds, target, header,
                              [n for n in found if ref.meets_target(header, n, target)], compile_s, False)
            _save(partial, args.json, msg)
            msg.print(f"{stop.name}: stopped after {done} of {count} nonces ([{start}, {start + done}) scanned), "
                      f"{len(partial['found'])} hit(s)" + (f": {', '.join(str(f['nonce']) for f in partial['found'])}"
                                                           if partial["found"] else "")
                      + (f"; partial scan saved to {console.text(args.json)}" if args.json and not quiet else ""))
            raise stop from None
        stops.hold()
        seconds = time.perf_counter() - begin
        bad = [n for n in found if not ref.meets_target(header, n, target)]
        if bad:
            raise VerificationError(f"{selected.label} returned nonce(s) {bad} that do not meet the target")
        result = _result(selected, start, count, done, seconds, target, header, found, compile_s, True)
        _save(result, args.json, msg)
        if not quiet:
            if not found:
                out.print(f"no nonce in [{start}, {start + count}) meets target {ref.target_hex(target)}")
            out.print(
                f"{label} ({console.text(selected.device.name)}): {count} nonces in {seconds:.3f} s = "
                f"[bold]{console.si(result['hashes_per_s'], 'H/s')}[/] (compile/warm-up {compile_s:.2f} s, excluded)"
            )
        late = stops.first_pending()
    return late.exit_code if late is not None else 0


def _save(result: dict, dest: str | None, msg) -> None:
    """--json PATH or '-'; a file that cannot be written at the end still shows the result, on stderr."""
    if not dest:
        return
    try:
        emit_json(result, dest)
    except BrokenPipeError:
        console.stdout_gone()
    except OSError as exc:
        msg.print(dumps(result), markup=False, highlight=False, end="")
        raise UsageError(f"--json {dest}: cannot write it ({exc.strerror or exc}); the result is printed above") from None
