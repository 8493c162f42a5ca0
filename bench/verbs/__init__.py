"""One module per CLI verb (as pyperf's `cmd_<verb>`): arguments -> the library -> the console.

Each has HELP, EPILOG (examples), add_arguments(parser) and main(args) -> exit code; bench.cli lists them.
"""
