import pytest

from tests import headers as H
from tests.cli import assert_usage_error, run_cli


@pytest.mark.parametrize(
    "args,words",
    [
        (["--header", H.GENESIS[:-1]], ["odd number"]),
        (["--header", "zz" + H.GENESIS[2:]], ["not hex"]),
        (["--header", H.GENESIS[:-2]], ["79 bytes", "80 bytes"]),
        (["--header", H.GENESIS + "00"], ["81 bytes"]),
        (["--header", H.GENESIS, "--start", str(2**32 - 10), "--count", "11"], ["2**32-1"]),
        (["--header", H.GENESIS, "--count", "0"], ["count must be positive"]),
        (["--header", H.GENESIS, "--count", "-5"], ["count must be positive"]),
        (["--header", H.GENESIS, "--count", "many"], ["not a whole number"]),
        (["--header", H.GENESIS, "--target", "ff" * 31], ["64 hex digits"]),
        (["--header", H.GENESIS, "--target", "xy" * 32], ["not hex"]),
        (["--header", H.GENESIS, "--backend", "quantum"], ["unknown backend", "numba-cpu"]),
        (["--header", H.GENESIS, "--backend", "opencl:x"], ["device index"]),
        (["--count", "5"], ["--header"]),
    ],
)
def test_mine_bad_input_exits_2_with_one_line(args, words):
    assert_usage_error(run_cli("mine", *args), *words)


def test_unknown_verb_is_one_line():
    assert_usage_error(run_cli("fly"), "invalid choice")
