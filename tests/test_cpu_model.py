"""The CPU's name from /proc/cpuinfo: x86 lists a model name, Arm Linux only an implementer and a part."""

from kernels.runtime import cpu

GRACE = """processor\t: 0
BogoMIPS\t: 2000.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp sve sve2 bf16 i8mm
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd4f
CPU revision\t: 0
"""


def test_an_arm_core_is_named_from_its_part():
    assert cpu.model_from_cpuinfo(GRACE) == "Arm Neoverse-V2"
    assert cpu.arm_fma_pipes("Arm Neoverse-V2") == 4 and cpu.arm_fma_pipes("Arm Neoverse-N1") == 2
    ampere = GRACE.replace("0x41", "0xc0").replace("0xd4f", "0xac3")
    assert cpu.model_from_cpuinfo(ampere) == "Arm CPU (implementer 0xc0, part 0xac3)"
    assert cpu.arm_fma_pipes("Arm CPU (implementer 0xc0, part 0xac3)") is None


def test_x86_keeps_its_model_name():
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\nflags\t\t: fpu avx2\n"
    assert cpu.model_from_cpuinfo(text) == "AMD EPYC 9654 96-Core Processor"
    assert cpu.model_from_cpuinfo("") == cpu.model_from_cpuinfo("garbage without fields") != ""


def test_an_arm_core_llvm_knows_brings_its_dot_product(monkeypatch):
    """LLVM's AArch64 host detection omits asimddp; the named core (neoverse-v2) implies it, generic not."""
    import llvmlite.binding as llvm

    monkeypatch.setattr(cpu, "cpu_flags", lambda: ("fp", "asimd", "sha2", "asimddp"))
    monkeypatch.setattr(llvm, "get_host_cpu_features", lambda: type("F", (), {"flatten": lambda self: "+neon,+sha2"})())
    for name, want in (("neoverse-v2", True), ("generic", False)):
        monkeypatch.setattr(llvm, "get_host_cpu_name", lambda name=name: name)
        cpu.host_features.cache_clear()
        try:
            assert ("+dotprod" in cpu.host_features().split(",")) == want, name
        finally:
            cpu.host_features.cache_clear()
