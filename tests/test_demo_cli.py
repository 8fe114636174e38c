"""`probelab demo` argument handling: bad flags and bad contexts fail in one line, exit 2."""

from support.processes import run_probelab


def test_bad_flag_values_exit_2() -> None:
    for args in (["--rate", "0"], ["--variant", "maybe"], ["--repeat", "0"], ["--bogus"]):
        result = run_probelab("demo", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_unknown_context_is_one_line(tmp_path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    result = run_probelab("demo", "--context", "nope", "--kubeconfig", str(kubeconfig),
                          "--report", str(tmp_path / "r.html"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "nope" in result.stderr
    assert not (tmp_path / "r.html").exists()
