"""The NVIDIA GPU generations users run the suite on, for the tests that build the CUDA code for each
without a GPU: compute capability -> the most dynamic shared memory one block may opt in to (CUDA C++
Programming Guide, "Technical Specifications per Compute Capability")."""

KIB = 1024
SHARED_OPTIN = {
    80: 163 * KIB,  # A100
    86: 99 * KIB,  # RTX 30, A40, A10
    89: 99 * KIB,  # RTX 40, L40S, L4
    90: 227 * KIB,  # H100, H200, GH200
    100: 227 * KIB,  # B200, GB200
    103: 227 * KIB,  # B300, GB300
    120: 99 * KIB,  # RTX 50, RTX PRO 6000 Blackwell
    121: 99 * KIB,  # DGX Spark (GB10)
}
ARCHS = [f"sm_{cc}" for cc in SHARED_OPTIN]
