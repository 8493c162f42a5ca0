from bench import cpu_clock


def test_measured_clock_is_a_plausible_cpu_clock():
    assert 0.5 < cpu_clock.measured_ghz() < 7.0


def test_cpufreq_maximum_wins_where_the_kernel_gives_it(tmp_path):
    (tmp_path / "cpuinfo_max_freq").write_text("3700000\n")
    assert cpu_clock.kernel_max_ghz(tmp_path) == 3.7
    assert cpu_clock.kernel_max_ghz(tmp_path / "missing") is None
