"""OpenMP threads that yield: the policy set before torch loads unless the user set one, recorded
in provenance; the study's ratios and verdicts."""

import os
import subprocess
import sys

from studies import threads as study
from symmflow.threads import CHOSEN, cores_held, runnable_competitors, wait_policy, yield_while_waiting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_threads_yield_where_other_work_of_our_priority_holds_a_core_and_a_users_policy_is_kept(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    environ = {}
    yield_while_waiting(environ, held=lambda: 2.0)
    assert environ == {}  # torch loaded: setting the policy now would only mislabel it
    monkeypatch.delitem(sys.modules, "torch")  # as an entry point sees it, before torch is imported
    for held, expected in ((1.0, "PASSIVE"), (0.6, "PASSIVE"), (0.2, None), (0.0, None)):
        environ = {}
        yield_while_waiting(environ, held=lambda: held)
        assert environ.get("OMP_WAIT_POLICY") == expected
        assert "OMP_NUM_THREADS" not in environ  # the count stays: it would change a result's bits
    kept = {"GOMP_SPINCOUNT": "1000"}
    yield_while_waiting(kept, held=lambda: 2.0)
    assert kept == {"GOMP_SPINCOUNT": "1000"}
    monkeypatch.undo()
    code = "import benchmarks, os, torch; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    theirs = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "1000"}, cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert theirs.stdout.split() == ["1000"]
    assert wait_policy({"OMP_WAIT_POLICY": "PASSIVE"}) == "OMP_WAIT_POLICY=PASSIVE"
    assert "spin" in wait_policy({})
    assert wait_policy({"OMP_WAIT_POLICY": "PASSIVE", CHOSEN: "1.0 cores held"}).endswith("; 1.0 cores held")


def _task(proc, pid: int, tid: int, state: str, nice: int, comm: str = "python") -> None:
    """A /proc/<pid>/task/<tid>/stat line as Linux writes it (the niceness is its 19th field)."""
    fields = [state, "1", "1", "1", "0", "-1", "0", *["0"] * 8, "20", str(nice), "1"]  # state .. priority, nice
    folder = proc / str(pid) / "task" / str(tid)
    folder.mkdir(parents=True)
    (folder / "stat").write_text(f"{tid} ({comm}) {' '.join(fields)}\n")


def test_only_runnable_threads_of_other_processes_at_our_priority_count(tmp_path):
    _task(tmp_path, 10, 10, "R", 0)  # another process's busy thread: counts
    _task(tmp_path, 10, 11, "R", 0, comm="a (b) c")  # its second thread, a name with parentheses and spaces
    _task(tmp_path, 20, 20, "R", 19)  # niced background work yields the cores to ours
    _task(tmp_path, 30, 30, "S", 0)  # sleeping
    _task(tmp_path, 40, 40, "R", 0)  # our own thread
    assert sorted(runnable_competitors(tmp_path, own_pid=40, own_nice=0)) == [10, 10]
    assert sorted(runnable_competitors(tmp_path, own_pid=40, own_nice=19)) == [10, 10, 20]  # niced run: shares
    assert cores_held(iter([[1, 1], [], [2]]).__next__, samples=3, interval=0) == 1.0


def test_a_busy_process_of_our_priority_is_seen_and_a_niced_one_is_not():
    import time

    loops = [subprocess.Popen([sys.executable, "-c", study.BUSY, str(nice)]) for nice in (0, 19)]
    try:
        time.sleep(0.3)
        seen = set().union(*(runnable_competitors() for _ in range(10)))
        assert loops[0].pid in seen and loops[1].pid not in seen
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def test_provenance_names_the_cpu_its_features_and_the_wait_policy():
    from benchmarks.provenance import provenance

    origin = provenance("cpu")
    assert origin["device"].startswith("cpu (") and "threads)" in origin["device"]
    assert "cores" in origin["machine"] and "torch kernels" in origin["machine"] and wait_policy() in origin["machine"]


def test_the_study_judges_each_case_against_its_targets(tmp_path):
    rows = []
    run = lambda s, threads=2, policy="spin": {"seconds": s, "threads": threads, "policy": policy}  # noqa: E731
    idle = {"1 thread": [1.1] * 5, study.SPINNING: [1.0] * 5, study.YIELDING: [1.3] * 5,
            study.DEFAULT: [1.0, 1.01, 0.99, 1.0, 1.0]}
    loaded = {"1 thread": [1.1] * 5, study.SPINNING: [3.0] * 5, study.YIELDING: [1.5] * 5, study.DEFAULT: [1.5] * 5}
    for load, times in ((0, idle), (1, loaded)):
        for config, s in times.items():
            rows.append({"busy": load, "case": "scene U-Net training step", "config": config,
                         **run(s, policy="OMP_WAIT_POLICY=PASSIVE" if load else "spin"),
                         "median_ms": 1000 * sorted(s)[2]})
    judged = study.judge(rows)
    assert [j["verdict"] for j in judged] == ["met", "missed"]  # idle: as before; loaded: yielding 1.36x the best
    assert judged[1]["best"] == "1 thread" and abs(judged[1]["to_best"]["ratio"] - 1.5 / 1.1) < 1e-9
    assert judged[1]["default"] == "2 threads, OMP_WAIT_POLICY=PASSIVE"
    assert study.before("toy MLP training step") == "1 thread" and study.table_threads("toy MLP training step") == 1
    assert study.before("scene U-Net training step") == study.SPINNING
    assert "| 1 | scene U-Net training step |" in study.markdown(rows, judged, {"git_commit": "abc", "device": "cpu",
                                                                              "machine": "m", "versions": "v"}, 5, 1)


def test_a_runs_family_is_its_descendants_read_from_proc(tmp_path):
    from studies.threads import family

    for pid, parent in ((10, 1), (11, 10), (12, 11), (13, 1), (14, 13)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (a (b) c) S {parent} 0 0\n")
    assert family(10, tmp_path) == {10, 11, 12} and family(13, tmp_path) == {13, 14}


def test_whole_runs_are_tabled_against_the_idle_run_and_bad_options_refused(tmp_path, capsys):
    from studies import threads_runs

    rows = [{"command": "python -m benchmarks.run --table 1", "condition": c, "seconds": s, "policy": p, "foreign": f}
            for c, s, p, f in zip(threads_runs.CONDITIONS, (100.0, 110.0, 300.0),
                                  ("OpenMP's default", "OMP_WAIT_POLICY=PASSIVE; 1.0 cores held",
                                   "GOMP_SPINCOUNT=300000"), (0.0, 0.4, 0.1))]
    text = threads_runs.markdown(rows, {"git_commit": "abc", "device": "cpu", "machine": "m", "versions": "v"}, 0,
                                 "python -m studies.threads_runs --out x")
    assert "| `python -m benchmarks.run --table 1` | 100 s | 110 s | 300 s | 1.10 | 3.00 |" in text
    assert "at most 0.40 of a core on average (beside 1 busy process, the run's default" in text
    assert "Command: `python -m studies.threads_runs --out x`." in text
    machine = "2 cores, 2 threads; amx_bf16; torch kernels AVX512; OMP_WAIT_POLICY=PASSIVE; 1.0 cores held; MKL 2024"
    assert threads_runs.policy_of(machine) == "OMP_WAIT_POLICY=PASSIVE; 1.0 cores held"
    assert threads_runs.main(["--out", str(tmp_path / "absent")]) == 2
    assert threads_runs.main(["--out", str(tmp_path), "--train-steps", "0"]) == 2
    assert capsys.readouterr().err.count("error:") == 2 and not list(tmp_path.iterdir())


def test_a_configuration_timed_beside_other_work_than_the_studys_is_timed_again(monkeypatch):
    seen = iter([1.0, 0.1])  # the first try shared the machine with someone else's work, the second did not
    monkeypatch.setattr(study, "timed", lambda *a: {"seconds": [1.0, 1.0], "threads": 2, "policy": "p",
                                                    "foreign": next(seen, 0.0)})
    rows = study.measure(loads=(0,), steps=2, warmup=0, cases=("toy MLP training step",), progress=False)
    assert rows[0]["attempts"] == 2 and rows[0]["foreign"] == 0.1
    assert [r["attempts"] for r in rows[1:]] == [1] * (len(study.CONFIGS) - 1)
