"""Wall time of every command's ``--help`` against ``python -c pass`` measured in the same run (the ratio is the
figure: it holds on a loaded machine where seconds do not), printed with the machine's load.

    python bench/cli_startup.py [--repeat 3]
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["trainer.pretrain", "trainer.finetune", "trainer.evaluate", "trainer.predict", "pipelines.import_conll",
            "pipelines.wiki_mrc", "pipelines.clism", "pipelines.project_labels", "pipelines.report", "schemas",
            "alignment"]


def best_wall(argv: list[str], repeat: int) -> float:
    """The fastest of ``repeat`` runs: the least disturbed by the machine's other work."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    baseline = best_wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"{'python -c pass':28s} {baseline:6.2f} s   1.0x")
    for command in COMMANDS:
        wall = best_wall([sys.executable, "-m", command, "--help"], args.repeat)
        print(f"{command + ' --help':28s} {wall:6.2f} s {wall / baseline:5.1f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
