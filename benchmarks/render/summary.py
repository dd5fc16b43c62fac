"""A table's cells summarised over the seeds: one row per (dataset, task, method, steps, metric)
with the mean, sample standard deviation and count of the finished values beside the published
value -- what the Markdown, LaTeX, plot, results page and quoted figures show."""

from __future__ import annotations

import pandas as pd

from benchmarks.render.frame import COLUMNS

SUMMARY_KEY = ["dataset", "task", "method", "steps", "metric"]


def seed_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, task, method, steps, metric) over the seeds of ``df``: the mean,
    sample standard deviation and count of the finished values (sd empty for one seed), the
    published value, the first skip reason where none finished, the median NFE and rate, the
    fewest samples a value was measured on, and the seeds and notes seen."""
    df = df.reindex(columns=list(dict.fromkeys([*df.columns, *COLUMNS])))
    rows = []
    for key, group in df.groupby(SUMMARY_KEY, sort=False, dropna=False):
        done = group[group["status"] == "ok"]
        values = pd.to_numeric(done["value"], errors="coerce").dropna()
        published = pd.to_numeric(group["published"], errors="coerce").dropna()
        rows.append({**dict(zip(SUMMARY_KEY, key)), "mean": values.mean() if len(values) else float("nan"),
                     "sd": values.std(ddof=1) if len(values) > 1 else float("nan"), "n": len(values),
                     "published": published.iloc[0] if len(published) else float("nan"),
                     "status": "ok" if len(values) else str(group["status"].iloc[0]),
                     "reason": "" if len(values) else str(group["reason"].iloc[0]),
                     "nfe_per_sample": pd.to_numeric(done["nfe_per_sample"], errors="coerce").median(),
                     "samples_per_s": pd.to_numeric(done["samples_per_s"], errors="coerce").median(),
                     "samples": pd.to_numeric(done["samples"], errors="coerce").min() if "samples" in done else
                     float("nan"),
                     "seeds": ",".join(str(v) for v in sorted(set(group["seed"].dropna().astype(int)))),
                     "note": " ".join(sorted(set(group["note"].dropna().astype(str)) - {""}))})
    out = pd.DataFrame(rows)
    out["difference"] = out["mean"] - out["published"]
    out["steps"] = out["steps"].astype("Int64")
    return out
