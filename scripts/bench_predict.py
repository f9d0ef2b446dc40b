"""Benchmark prediction: time and extra memory to predict VGG16 at batch 256 (no real compute).

Targets (issue 3): <= 100 ms and <= 200 MB extra RSS on the project's 2-core machine, with the
predictor already loaded. Also prints the cold cost of loading the shipped predictor, and what
the real activations of that forward pass would have needed (for scale).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import psutil

from energypred import load_default, load_predictor, predict
from energypred.tracing import trace


def main() -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--predictor", default=None, help="predictor directory (default: shipped)")
    args = ap.parse_args()
    proc = psutil.Process()
    t0 = time.perf_counter()
    pred = load_predictor(args.predictor) if args.predictor else load_default()
    load_s = time.perf_counter() - t0
    predict("alexnet", (3, 64, 64), 1, predictor=pred)  # warm the import and dispatch paths
    rss_before = proc.memory_info().rss
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        report = predict(args.model, (3, 224, 224), args.batch_size, predictor=pred)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    from energypred.loading import build_model

    acts = sum(4 * (r.counts.output_elements if r.counts else 0)
               for r in trace(build_model(args.model), (args.batch_size, 3, 224, 224)).layers)
    print(f"predict {args.model} batch {args.batch_size} x 3x224x224 "
          f"({len(report.layers)} layer calls, {report.total_macs / 1e12:.2f} TMAC): "
          f"{report.energy_j:.4g} J per forward pass (predictor data from {report.method})")
    print(f"  time: median {1e3 * statistics.median(times):.1f} ms, min "
          f"{1e3 * min(times):.1f} ms over {args.repeats} runs (predictor loaded once "
          f"beforehand in {1e3 * load_s:.0f} ms)")
    print(f"  extra RSS: {max(0, peak - rss_before) / 1e6:.1f} MB peak above the "
          f"{rss_before / 1e6:.0f} MB before the runs (real activations would need "
          f"{acts / 1e9:.1f} GB)")


if __name__ == "__main__":
    main()
