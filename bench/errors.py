"""The exceptions the CLI turns into exit codes (DESIGN.md): 2 bad input, 1 failed verification."""


class UsageError(Exception):
    """Bad input or a backend/profile that does not exist or cannot run here: exit 2, one line."""

    exit_code = 2


class VerificationError(Exception):
    """A result did not match its reference (wrong hash, GEMM mismatch): exit 1."""

    exit_code = 1

