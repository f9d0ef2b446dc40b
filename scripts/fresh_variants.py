"""Which leaves the context's "fresh" credit should cover: the held-out context error per variant.

    python scripts/fresh_variants.py --data datasets/zen5-2c-padded [--terms bytes,leaf]

The "fresh" term (``energypred.context``) gives back ``k × J alone`` of each weightless leaf
whose input + output bytes exceed the context's cache. This script swaps in other choices of
how much of a leaf's J alone counts (``Context.fresh_j``) and prints, for each, the context
error alone with every architecture held out (``scripts/context_residuals.py``: measured leaves
+ held-out context against the measured whole), overall, per architecture and at batch > 16:

- ``none``: the given terms without the credit;
- ``beyond cache``: the shipped rule (weightless, input + output beyond the cache);
- ``cache share``: the same leaves, J alone × min(1, cache / their bytes) (the share of their
  data a cache could hold);
- ``beyond 2x cache``: only leaves with input + output beyond twice the cache;
- ``every weightless``: every leaf without weights, whatever its size.

Then the coefficients fitted on every network for the shipped rule and the cache share. Rows
are drift-corrected and faulted rows left out, as ``fit --drift-correct`` does; energies are J
per call, CodeCarbon estimates wherever the dataset says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from context_residuals import residuals
from energypred.context import Context
from energypred.context_report import context_lines
from energypred.context_fit import fit_context, llc_for, parse_terms
from energypred.dataset import one_machine, read_dataset
from energypred.drift import corrected
from energypred.faulted import without_faulted
from energypred.windows import steady_state

FreshJ = Callable[[Context, float, float, float], float]
SHIPPED: FreshJ = Context.fresh_j


def _cache(ctx: Context) -> float:
    """The cache the credit compares a leaf's bytes with (bytes)."""
    return float(ctx.cache_bytes or ctx.llc_bytes)


def cache_share(ctx: Context, w: float, a: float, j: float) -> float:
    """The shipped leaves, J alone × the share of their bytes the cache could hold."""
    base = SHIPPED(ctx, w, a, j)
    return base * min(1.0, _cache(ctx) / float(a)) if base else 0.0


def beyond_twice(ctx: Context, w: float, a: float, j: float) -> float:
    """Only weightless leaves whose input + output exceed twice the cache."""
    return SHIPPED(ctx, w, a / 2.0, j)


def every_weightless(ctx: Context, w: float, a: float, j: float) -> float:
    """Every leaf without weights, whatever its size."""
    return SHIPPED(ctx, w, float("inf"), j)


#: variant name -> Context.fresh_j replacement (None: the term left out)
VARIANTS: dict[str, FreshJ | None] = {"none": None, "beyond cache": SHIPPED,
                                      "cache share": cache_share,
                                      "beyond 2x cache": beyond_twice,
                                      "every weightless": every_weightless}


def line(name: str, phase: str, g: pd.DataFrame) -> str:
    """One printed row: MAPE (signed) overall, per architecture and at batch > 16 (%)."""
    per = "  ".join(f"{a} {100 * x.error.abs().mean():.1f} ({100 * x.error.mean():+.1f})"
                    for a, x in g.groupby("architecture"))
    big = g[g.batch_size > 16]
    tail = (f"  batch>16 {100 * big.error.abs().mean():.1f} ({100 * big.error.mean():+.1f})"
            if len(big) else "")
    return (f"{name:<18}{phase:<10} n {len(g):>3}  {100 * g.error.abs().mean():.2f} % "
            f"({100 * g.error.mean():+.2f})  |  {per}{tail}")


def main() -> None:
    """Parse arguments, print each variant's held-out context error and the fitted credit."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--terms", default="bytes,leaf",
                    help="the context's other terms (the credit is added to them)")
    args = ap.parse_args()
    df, note = without_faulted(one_machine(read_dataset(args.data), where=str(args.data)))
    if note:
        print(note)
    df = corrected(steady_state(df))
    terms = parse_terms(args.terms)
    print(f"{args.data} (drift-corrected): context alone, each architecture held out; "
          "MAPE (mean signed), %")
    try:
        for name, fresh in VARIANTS.items():
            Context.fresh_j = fresh or SHIPPED  # type: ignore[method-assign]
            r = residuals(df, terms + (("fresh",) if fresh else ()))
            for phase, g in r.groupby("phase"):
                print(line(name, str(phase), g), flush=True)
        for name in ("beyond cache", "cache share"):
            Context.fresh_j = VARIANTS[name]  # type: ignore[method-assign]
            fitted = fit_context(df, llc_for(df), terms=terms + ("fresh",))
            print(f"\n{name}, fitted on every network:", *context_lines(fitted), sep="\n  ")
    finally:
        Context.fresh_j = SHIPPED  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
