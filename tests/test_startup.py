"""``python -m benchmarks.run``'s start-up is light and stateless: parsing the options changes no
global state (the work's threads are set when it starts and given back when it ends), and a run of
Table 1 imports none of the other table families' settings, networks or data sets, nor diffusers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import run

ROOT = Path(__file__).resolve().parent.parent
TABLE1 = ["--table", "1", "--profile", "smoke", "--steps", "1", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize("given, wanted", [((), 1), (("--threads", "2"), 2)])
def test_the_threads_are_set_for_the_work_and_given_back(tmp_path, monkeypatch, given, wanted):
    before, seen = torch.get_num_threads(), []
    monkeypatch.setattr(run, "dry_run", lambda *args: seen.append(torch.get_num_threads()) or 0)
    assert run.main([*TABLE1, "--out", str(tmp_path / "out"), "--dry-run", *given]) == 0
    assert seen == [wanted] and torch.get_num_threads() == before  # Table 1's one thread unless told


def test_table_1_imports_only_its_own_settings(tmp_path):
    others = ("benchmarks.profiles", "benchmarks.tables.segsynth", "benchmarks.tables.classification",
              "symmflow.models.guided_unet", "symmflow.data.scenes", "baselines.diffusion_classifier", "diffusers")
    code = (f"import sys; from benchmarks.options import options_from; from benchmarks.requirements import needs; "
            f"chosen, options = options_from({[*TABLE1, '--out', str(tmp_path / 'out')]!r}); "
            f"needs(chosen[0], options); print([m for m in {others!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


PROJECT = ("benchmarks", "symmflow", "baselines", "studies")
OTHER_TABLES_ONLY = ("benchmarks.profiles", "benchmarks.render.grids", "baselines.diffusion_classifier",
                     "symmflow.models.guided_unet", "symmflow.models.latent", "symmflow.frechet",
                     "symmflow.fid_inception", "symmflow.joint_frechet", "symmflow.lpips_metric",
                     "symmflow.segmentation_iou")
"""Modules only the other tables' settings, metrics, networks and sample grids need."""
MOST_MODULES = {(): 65, ("--dry-run",): 55}
"""The most project modules a run of Table 1 imports, computed and rendered / as a dry run (63 and 52
measured; 76 and 69 before rendering, the protocol page and the metrics were imported where used)."""


@pytest.mark.parametrize("given", list(MOST_MODULES))
def test_a_run_of_table_1_imports_few_project_modules(tmp_path, given):
    code = (f"import json, sys; from benchmarks import run; "
            f"code = run.main({[*TABLE1, '--out', str(tmp_path / 'out'), *given]!r}); "
            f"print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in {PROJECT!r})]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    code, imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0 and not set(OTHER_TABLES_ONLY) & set(imported), imported
    assert len(imported) <= MOST_MODULES[given], imported
    if given:  # a dry run renders nothing
        assert not [m for m in imported if m.startswith("benchmarks.render.") and m != "benchmarks.render.index_mark"]
