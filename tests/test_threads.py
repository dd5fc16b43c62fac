"""OpenMP threads that yield: the policy set before torch loads unless the user set one, recorded
in provenance; the study's ratios and verdicts."""

import os
import subprocess
import sys

from studies import threads as study
from symmflow.threads import wait_policy, yield_while_waiting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_threads_yield_on_a_busy_machine_spin_on_an_idle_one_and_a_users_policy_is_kept(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    environ = {}
    yield_while_waiting(environ, load=lambda: (4.0, 4.0, 4.0))
    assert environ == {}  # torch loaded: setting the policy now would only mislabel it
    monkeypatch.delitem(sys.modules, "torch")  # as an entry point sees it, before torch is imported
    for load, expected in ((1.2, {"OMP_WAIT_POLICY": "PASSIVE"}), (0.1, {})):
        environ = {}
        yield_while_waiting(environ, load=lambda: (load, load, load))
        assert environ == expected
    kept = {"GOMP_SPINCOUNT": "1000"}
    yield_while_waiting(kept, load=lambda: (9.0, 9.0, 9.0))
    assert kept == {"GOMP_SPINCOUNT": "1000"}
    monkeypatch.undo()
    code = "import benchmarks, os, torch; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    theirs = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "1000"}, cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert theirs.stdout.split() == ["1000"]
    assert wait_policy({"OMP_WAIT_POLICY": "PASSIVE"}) == "OMP_WAIT_POLICY=PASSIVE"
    assert "spin" in wait_policy({})


def test_provenance_names_the_cpu_its_features_and_the_wait_policy():
    from benchmarks.provenance import provenance

    origin = provenance("cpu")
    assert origin["device"].startswith("cpu (") and "threads)" in origin["device"]
    assert "cores" in origin["machine"] and "torch kernels" in origin["machine"] and wait_policy() in origin["machine"]


def test_the_study_judges_each_case_against_its_targets(tmp_path):
    rows = []
    seconds = {"1 thread": [1.1] * 5, study.SPINNING: [1.0] * 5, study.YIELDING: [1.0, 1.01, 0.99, 1.0, 1.0]}
    loaded = {"1 thread": [1.1] * 5, study.SPINNING: [3.0] * 5, study.YIELDING: [1.5] * 5}
    for load, times in ((0, seconds), (1, loaded)):
        for config, s in times.items():
            rows.append({"busy": load, "case": "scene U-Net training step", "config": config, "seconds": s,
                         "median_ms": 1000 * sorted(s)[2]})
    judged = study.judge(rows)
    assert [j["verdict"] for j in judged] == ["met", "missed"]  # idle: the spinning; loaded: yielding 1.36x the best
    assert judged[1]["best"] == "1 thread" and abs(judged[1]["to_best"]["ratio"] - 1.5 / 1.1) < 1e-9
    assert study.default("toy MLP training step", 1) == "1 thread"
    assert study.default("scene U-Net training step", 0) == study.SPINNING
    assert "| 1 | scene U-Net training step |" in study.markdown(rows, judged, {"git_commit": "abc", "device": "cpu",
                                                                              "machine": "m", "versions": "v"}, 5, 1)
