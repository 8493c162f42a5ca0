from pathlib import Path

import pytest

from bench import profiles as P
from bench.errors import UsageError
from kernels.runtime import DeviceInfo

BAD = Path(__file__).parent / "fixtures" / "profiles_bad"

ASICS = ["s19j-pro", "s19-xp", "s21", "s21-hyd", "s21-pro", "s21-xp", "s21-xp-hyd", "s21e-xp-hyd-3u", "s23",
         "s23-hyd", "m60s", "m63s-plus-plus", "m66s-plus-plus", "m70s", "avalon-a15-pro", "avalon-a16-xp"]
GPUS = ["h100-sxm", "h200", "b200", "gb200-nvl72", "gb300-nvl72"]


@pytest.fixture(scope="module")
def builtin():
    return P.load([P.BUILTIN_DIR])


def test_every_profile_the_issue_lists_is_there(builtin):
    assert sorted(builtin.by_kind["asic"]) == sorted(ASICS)
    assert sorted(builtin.by_kind["gpu"]) == sorted(GPUS)
    assert "host" in builtin.by_kind["cpu"]


@pytest.mark.parametrize("kind", ["asic", "gpu", "site", "market"])
def test_every_figure_carries_a_dated_source(builtin, kind):
    for p in builtin.by_kind[kind].values():
        assert p.sources and all(s.strip() for s in p.sources), p.id
        assert any(ch.isdigit() for s in p.sources for ch in s), f"{p.id}: no date in its sources"


def test_asic_efficiency_is_power_over_hashrate(builtin):
    s21xp = builtin.find("asic", "s21-xp")
    assert s21xp.j_per_th == pytest.approx(13.5)
    assert builtin.find("asic", "s21").usd_per_th == 14.0
    for asic in builtin.by_kind["asic"].values():
        assert 5 < asic.j_per_th < 40, asic.id


def test_gpu_system_power_per_gpu_includes_the_rack(builtin):
    gb300 = builtin.find("gpu", "gb300-nvl72")
    assert gb300.system_w_per_gpu * 72 == pytest.approx(135_000)
    for gpu in builtin.by_kind["gpu"].values():
        assert gpu.system_w_per_gpu >= gpu.tdp_w


def test_default_site_and_latest_market(builtin):
    site = builtin.default_site()
    assert (site.facility_mw, site.pue) == (18.0, 1.25)
    assert site.pue_range == (1.2, 1.3)
    assert site.pue_for("mining") == 1.05 and site.pue_for("gpuaas") == 1.25
    market = builtin.latest_market()
    assert market.id == "2026-01-12" and market.btc_price_usd == 91132
    assert market.gpu_hour_usd["h100-sxm"] == 2.35 and market.gpu_hour_usd["gb200-nvl72"] == 4.54


def test_user_folder_adds_profiles_and_newest_market_wins():
    ps = P.load([P.BUILTIN_DIR, BAD / "good"])
    assert ps.latest_market().id == "2026-02-01-test"
    assert ps.find("market", "2026-01-12").btc_price_usd == 91132


def test_env_var_names_user_folders(monkeypatch):
    monkeypatch.setenv(P.ENV_VAR, str(BAD / "good"))
    assert P.profile_dirs() == [P.BUILTIN_DIR, BAD / "good"]
    monkeypatch.setenv(P.ENV_VAR, str(BAD / "no-such-folder"))
    with pytest.raises(UsageError, match="not a folder"):
        P.profile_dirs()


@pytest.mark.parametrize(
    "name,kind",
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA H200 NVL", "h200"),
        ("NVIDIA B200", "b200"),
        ("NVIDIA GB200", "gb200-nvl72"),
        ("NVIDIA GB300", "gb300-nvl72"),
        ("NVIDIA H100 PCIe", None),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_for_device_matches_gpu_by_name(builtin, name, kind):
    found = builtin.for_device(DeviceInfo(0, name, "gpu"))
    assert (found.id if found else None) == kind


def test_for_device_cpu_and_simulator_get_the_host(builtin):
    assert builtin.for_device(DeviceInfo(0, "AMD EPYC 9654", "cpu")).id == "host"
    assert builtin.for_device(DeviceInfo(0, "Numba CUDA simulator", "simulator")).id == "host"


def test_find_unknown_id_lists_the_known_ones(builtin):
    with pytest.raises(UsageError, match="no asic profile 's99'.*s21-xp"):
        builtin.find("asic", "s99")


def test_host_cpu_peaks_are_derived_and_labelled():
    intel = P.host_cpu("Intel Xeon Platinum 8480+", {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}, 2, 2.0)
    assert intel.peak_gflops["fp32"] == 2 * 2.0 * 64  # 16 lanes x FMA x 2 pipes
    assert intel.peak_gflops["bf16"] == 2 * 2.0 * 1024
    assert intel.derived and any(s.startswith("derived") for s in intel.sources)
    assert any(s.startswith("estimate") and "tdp_w" in s for s in intel.sources)
    zen4 = P.host_cpu("AMD EPYC 9654", {"avx512f", "avx2", "fma", "avx512_vnni"}, 2, 2.0)
    assert zen4.peak_gflops["fp32"] == 2 * 2.0 * 32  # AVX-512 on 256-bit pipes
    assert zen4.peak_gflops["int8"] == 4 * zen4.peak_gflops["fp32"]
    grace = P.host_cpu("Arm Neoverse-V2", {"asimd", "asimddp", "bf16", "sha2"}, 72, 3.0)
    assert grace.peak_gflops["fp32"] == 72 * 3.0 * 32  # 4 lanes x FMA x 4 pipes of 128 bits
    assert grace.peak_gflops["int8"] == 4 * grace.peak_gflops["fp32"] and "4 FMA pipes" in grace.sources[1]
    other_arm = P.host_cpu("Arm CPU (implementer 0xc0, part 0xac3)", {"asimd"}, 2, 3.0)
    assert other_arm.peak_gflops["fp32"] == 2 * 3.0 * 16 and "int8" not in other_arm.peak_gflops
    unknown = P.host_cpu("Mystery", set(), 4, 0.0)  # 0: clock unknown
    assert unknown.peak_gflops == {} and "unknown clock" in unknown.sources[0]


def test_host_cpu_detects_this_machine():
    host = P.host_cpu()
    assert host.cores >= 1 and host.tdp_w > 0 and host.name


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing_field", ["asic/x.toml", "power_w", "required"]),
        ("wrong_unit_name", ["asic/x.toml", "power_kw", "unknown field", "missing: power_w"]),
        ("wrong_unit_value", ["asic/x.toml", "power_w", ">= 100 W", "3.5"]),
        ("efficiency_mismatch", ["efficiency_jth", "17.50 J/TH"]),
        ("negative_power", ["gpu/x.toml", "tdp_w", ">= 10", "-700"]),
        ("bandwidth_in_gbs", ["memory_tbs", "TB/s", "3350"]),
        ("pue_below_1", ["sites/x.toml", "pue: must be >= 1 (got 0.9)"]),
        ("price_per_kwh", ["power_price_usd_per_mwh", "$/kWh"]),
        ("duplicate_id", ["asic/x.toml", "duplicate id 's21-xp'", "hardware_profiles/asic/s21-xp.toml"]),
        ("difficulty_in_t", ["market/x.toml", "difficulty", "148.26e12"]),
        ("not_toml", ["asic/x.toml", "not valid TOML"]),
        ("wrong_kind", ["gpu/x.toml", "kind", "'asic'"]),
        ("no_sources", ["sources", "at least 1"]),
        ("unknown_gpu_price", ["gpu_hour_usd.h900", "no gpu profile"]),
    ],
)
def test_bad_profile_names_file_field_and_rule(case, words):
    with pytest.raises(UsageError) as info:
        P.load([P.BUILTIN_DIR, BAD / case])
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_two_default_sites_are_refused(tmp_path):
    site = (P.BUILTIN_DIR / "sites" / "default-18mw.toml").read_text().replace('"default-18mw"', '"other"')
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "other.toml").write_text(site)
    with pytest.raises(UsageError, match="exactly one site must say default = true"):
        P.load([P.BUILTIN_DIR, tmp_path])
