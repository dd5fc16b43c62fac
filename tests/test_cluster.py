"""The committed multi-node launch files: the accelerate config and the Slurm script."""

import shlex
import subprocess
from pathlib import Path

import yaml

from benchmarks.options import build_parser

CLUSTER = Path(__file__).resolve().parent.parent / "benchmarks" / "cluster"


def test_the_accelerate_config_is_two_nodes_of_four_gpus_in_bf16():
    config = yaml.safe_load((CLUSTER / "accelerate-2x4.yaml").read_text())
    assert config["compute_environment"] == "LOCAL_MACHINE" and config["distributed_type"] == "MULTI_GPU"
    assert config["num_machines"] == 2 and config["num_processes"] == 8 and config["mixed_precision"] == "bf16"
    assert {"machine_rank", "main_process_ip", "main_process_port"} <= set(config)


def test_the_sbatch_script_parses_requeues_and_runs_the_paper_profile():
    script = CLUSTER / "paper-2x4.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --signal=TERM@120" in text and "#SBATCH --requeue" in text
    assert "accelerate-2x4.yaml" in text and "--machine_rank" in text
    command = text[text.index("-m benchmarks.run") + len("-m benchmarks.run"):].split('"', 1)[0]
    args = build_parser().parse_args(shlex.split(command.replace("\\\n", " ").replace("$", "")))
    assert args.table == "2,4,5" and args.profile == "paper" and args.pretrained is not None
