"""Draw the scaling curve `python -m bench.scale` measured: throughput over 1..N instances as a
ratio against one, beside the ideal line, one curve per concurrency.

    python -m bench.plot_scale [bench/results/scale.json] [docs/scale-out.png]

Needs matplotlib (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def plot(results: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(results.read_text(encoding="utf-8"))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    counts: list[int] = []
    for name, by_n in sorted(data["ratio_vs_one"].items()):
        counts = sorted(int(n) for n in by_n)
        label = f"priced echo, c={name.split('@')[1]}"
        ax.plot(counts, [by_n[str(n)] for n in counts], marker="o", label=label)
    ax.plot(counts, counts, linestyle="--", color="grey", label="ideal (N x one)")
    ax.set_xticks(counts)
    ax.set_xlabel("toolwire instances behind nginx")
    ax.set_ylabel("throughput vs one instance")
    ax.set_title(f"Scale-out on {data['cpus']} cores (load before: {data['load_before']:.1f})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    args = sys.argv[1:]
    results = Path(args[0]) if args else Path("bench/results/scale.json")
    out = Path(args[1]) if len(args) > 1 else Path("docs/scale-out.png")
    plot(results, out)


if __name__ == "__main__":
    main()
