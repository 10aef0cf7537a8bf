"""Experiment results: one JSON file of records (one per model and seed), tables derived from it, the summary.

File layout (``results/experiments_<keypoints>.json``)::

    {"format": 1,
     "experiment": {...the ExperimentConfig that produced the trained records...},
     "records": [{"model": "heterogeneous", "seed": 0, "source": "trained", "metrics": {"P1": ..., ...},
                  "params": ..., "macs_per_frame": ..., "per_action": [...], "per_joint": [...],
                  "robustness": [...], "budget": {...}, ...}, ...]}

The file is rewritten atomically after every record, so an interrupted run loses at most the record being computed
and a re-run skips the records already there (:meth:`ResultStore.has`).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence as SequenceOf
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluation import METRICS
from ..errors import write_error
from ..io import atomic_write

__all__ = [
    "RESULT_FORMAT",
    "MODEL_ORDER",
    "MODEL_LABELS",
    "ResultStore",
    "load_results",
    "merge_results",
    "records_of",
    "runs_frame",
    "summarise",
    "paired_differences",
    "robustness_frame",
    "per_joint_frame",
    "per_action_frame",
    "write_tables",
]

RESULT_FORMAT = 1
#: Models of the ablation, in table order.
MODEL_ORDER = ("videopose3d", "no-fusion", "fc", "nddr", "heterogeneous", "one-stage", "one-stage-detached")
#: How each model is named in tables and figures.
MODEL_LABELS = {
    "videopose3d": "VideoPose3D (TCN)",
    "no-fusion": "EHFusion, no fusion (stage 1)",
    "fc": "EHFusion, FC fusion",
    "nddr": "EHFusion, NDDR fusion",
    "heterogeneous": "EHFusion, heterogeneous (3-stage)",
    "one-stage": "EHFusion, heterogeneous (1-stage)",
    "one-stage-detached": "EHFusion, 1-stage, fused input detached",
}


def _json_safe(obj):
    """Plain JSON: numpy scalars/arrays become Python, NaN/inf become null."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_results(path: str | os.PathLike) -> dict:
    """Read a results file (see the module docstring); a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file {path}; create it with `python -m ehfusion.experiments run ...`")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run the experiments") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ValueError(f"{path} is not an experiments results file (no list of 'records'); was it written by "
                         "ehfusion.experiments?")
    if not isinstance(data.get("format", 0), int):
        raise ValueError(f"{path}: format is {data['format']!r}, expected an integer; was it written by "
                         "ehfusion.experiments?")
    if data.get("format", 0) > RESULT_FORMAT:
        raise ValueError(f"{path} has results format {data['format']}, newer than this ehfusion ({RESULT_FORMAT})")
    return data


class ResultStore:
    """The records of one results file, written back atomically on every change.

    ``experiment`` is the configuration of the runs being added; opening an existing file made with a different
    configuration raises (mixing budgets in one table would be misleading) unless ``overwrite=True`` starts afresh.
    """

    def __init__(self, path: str | os.PathLike, experiment: Mapping | None = None, *, overwrite: bool = False,
                 compare_keys: SequenceOf[str] | None = None) -> None:
        self.path = Path(path)
        self.experiment = _json_safe(dict(experiment or {}))
        self.records: list[dict] = []
        if self.path.exists() and not overwrite:
            data = load_results(self.path)
            stored = data.get("experiment", {})
            keys = compare_keys if compare_keys is not None else sorted(set(stored) | set(self.experiment))
            differs = {k: (stored.get(k), self.experiment.get(k)) for k in keys
                       if experiment is not None and stored.get(k) != self.experiment.get(k)}
            if differs:
                details = "; ".join(f"{k}: file {a!r}, now {b!r}" for k, (a, b) in sorted(differs.items()))
                raise ValueError(
                    f"{self.path} holds results of a different experiment configuration ({details}); use another "
                    f"results file (--results) or --overwrite to replace it"
                )
            if experiment is None:
                self.experiment = stored
            self.records = list(data["records"])

    # ------------------------------------------------------------------ queries
    def get(self, model: str, seed: int) -> dict | None:
        return next((r for r in self.records if r["model"] == model and int(r["seed"]) == int(seed)), None)

    def has(self, model: str, seed: int) -> bool:
        return self.get(model, seed) is not None

    # ------------------------------------------------------------------ changes
    def add(self, record: Mapping) -> None:
        """Add (or replace) the record of ``(record["model"], record["seed"])`` and write the file."""
        for key in ("model", "seed"):
            if key not in record:
                raise ValueError(f"a result record needs a {key!r} field")
        record = _json_safe(dict(record))
        self.records = [r for r in self.records if not (r["model"] == record["model"] and
                                                        int(r["seed"]) == int(record["seed"]))]
        self.records.append(record)
        self.records.sort(key=lambda r: (_model_rank(r["model"]), int(r["seed"])))
        self.save()

    def save(self) -> Path:
        payload = {"format": RESULT_FORMAT, "experiment": self.experiment, "records": self.records}
        try:
            with atomic_write(self.path, "w") as handle:
                json.dump(payload, handle, indent=1)
                handle.write("\n")
        except OSError as err:
            raise write_error(self.path, "results file", err) from err
        return self.path

    def as_dict(self) -> dict:
        return {"format": RESULT_FORMAT, "experiment": self.experiment, "records": list(self.records)}


def merge_results(target: str | os.PathLike, sources: SequenceOf[str | os.PathLike], *,
                  replace: bool = False) -> ResultStore:
    """Add the records of other results files to ``target`` (created if missing) and rewrite its CSV tables.

    This joins seeds that ran in separate processes or on other machines (each with its own ``--results`` file). Every
    file must come from the same experiment configuration (the same check as :class:`ResultStore`). A (model, seed)
    found in two files with different metrics is refused unless ``replace`` is true (the later file then wins); an
    identical copy is skipped.
    """
    if not sources:
        raise ValueError("nothing to merge: give at least one results file")
    loaded = [(Path(src), load_results(src)) for src in sources]
    target = Path(target)
    first_experiment = loaded[0][1].get("experiment", {})
    store = ResultStore(target, first_experiment if not target.exists() else None)
    for path, data in loaded:
        if store.experiment != data.get("experiment", {}):
            differs = sorted(k for k in set(store.experiment) | set(data.get("experiment", {}))
                             if store.experiment.get(k) != data.get("experiment", {}).get(k))
            raise ValueError(f"{path} holds results of a different experiment configuration than {target} "
                             f"(fields {', '.join(differs)}); only results of one configuration can be merged")
        for record in data["records"]:
            existing = store.get(record["model"], record["seed"])
            if existing is not None and existing.get("metrics") == record.get("metrics"):
                continue
            if existing is not None and not replace:
                raise ValueError(f"{target} already holds {record['model']} seed {record['seed']} with other results "
                                 f"than {path}; pass replace=True (--replace) to take {path}'s")
            store.add(record)
    store.save()
    write_tables(store, target.with_suffix(""))
    return store


def _model_rank(model: str) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)


def records_of(results) -> list[dict]:
    """The records of a results file path, a loaded results dict, a :class:`ResultStore` or a list of records."""
    if isinstance(results, ResultStore):
        return list(results.records)
    if isinstance(results, (str, os.PathLike)):
        return list(load_results(results)["records"])
    if isinstance(results, Mapping):
        if "records" not in results:
            raise ValueError("a results dict needs a 'records' list")
        return list(results["records"])
    return list(results)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in :data:`MODEL_ORDER` (unknown models last), then by seed; the index is reset."""
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = ["_rank"] + (["seed"] if "seed" in frame else [])
    ranked = frame.assign(_rank=frame["model"].map(_model_rank))
    return ranked.sort_values(keys, kind="stable").drop(columns="_rank").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------- tables
def runs_frame(results) -> pd.DataFrame:
    """One row per (model, seed): test metrics (mm), validation P1 of the kept epoch (mm, NaN if not recorded),
    parameters, MACs per output frame, budget and source."""
    rows = []
    for r in records_of(results):
        row = {"model": r["model"], "seed": int(r["seed"]), "source": r.get("source", "trained")}
        row.update({m: (r.get("metrics", {}).get(m) if r.get("metrics", {}).get(m) is not None else np.nan)
                    for m in METRICS})
        row["validation_P1"] = r.get("validation_P1") if r.get("validation_P1") is not None else np.nan
        row["params"] = r.get("params")
        row["macs_per_frame"] = r.get("macs_per_frame")
        row["epochs"] = r.get("budget", {}).get("epochs")
        row["train_seconds"] = r.get("train_seconds")
        rows.append(row)
    columns = ["model", "seed", "source", *METRICS, "validation_P1", "params", "macs_per_frame", "epochs",
               "train_seconds"]
    return _ordered(pd.DataFrame(rows, columns=columns))


def summarise(results) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every metric, per model (errors in mm).

    One row per model, in :data:`MODEL_ORDER`: ``seeds`` (how many runs), ``<metric> mean`` and ``<metric> std`` for
    P1, P2, N-MPJPE and MPJVE (the sample standard deviation, ``ddof=1``: NaN with a single seed), ``params`` and
    ``macs_per_frame`` (identical for every seed of a model; their mean is shown), and ``label``.
    """
    runs = runs_frame(results)
    if runs.empty:
        raise ValueError("no result records to summarise: run `python -m ehfusion.experiments run` first")
    grouped = runs.groupby("model", sort=False)
    out = pd.DataFrame({"seeds": grouped["seed"].count()})
    for metric in METRICS:
        out[f"{metric} mean"] = grouped[metric].mean()
        out[f"{metric} std"] = grouped[metric].std(ddof=1)
    out["params"] = grouped["params"].mean()
    out["macs_per_frame"] = grouped["macs_per_frame"].mean()
    out["sources"] = grouped["source"].agg(lambda s: ",".join(sorted(set(s))))
    out = out.reset_index()
    out.insert(1, "label", out["model"].map(lambda m: MODEL_LABELS.get(m, m)))
    return _ordered(out)


#: Two-sided 95 % quantiles of Student's t distribution by degrees of freedom (a lookup, to need no SciPy).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000}


def t_quantile_975(dof: int) -> float:
    """Student's t 97.5 % quantile for ``dof`` degrees of freedom (the tabulated value at or below ``dof``: on the
    safe, wider side between table entries; 1.96 beyond 60)."""
    if dof < 1:
        raise ValueError(f"need at least one degree of freedom (two seeds), got {dof}")
    if dof > 60:
        return 1.960
    return _T975[max(k for k in _T975 if k <= dof)]


def paired_differences(results, reference: str = "heterogeneous", metric: str = "P1") -> pd.DataFrame:
    r"""Per-seed differences ``reference - other`` of ``metric`` (mm), for every other model run with the same seeds.

    Runs of one seed share their initial weights and data order (and the fusion variants their stage-1 model), so the
    paired difference :math:`d_i` is sharper than comparing means. Columns: ``model`` (the other one), ``seeds``,
    ``per_seed`` (``{seed: d_i}``), ``mean``, ``std`` (sample, ddof=1), ``ci95`` (half-width of the 95 % t interval
    of the mean, :math:`t_{0.975,n-1}\, s_d / \sqrt n`) and ``verdict``: ``"lower"`` (the reference is better: the
    whole interval is below zero), ``"higher"``, ``"unclear"`` (the interval contains zero) or ``"one seed"``.
    """
    runs = runs_frame(results)
    if reference not in set(runs["model"]):
        raise ValueError(f"no runs of {reference!r} in the results; models: {', '.join(dict.fromkeys(runs['model']))}")
    wide = runs.pivot_table(index="seed", columns="model", values=metric, aggfunc="first")
    rows = []
    for other in [m for m in dict.fromkeys(runs["model"]) if m != reference]:
        d = (wide[reference] - wide[other]).dropna()
        if d.empty:
            continue
        n = len(d)
        mean = float(d.mean())
        std = float(d.std(ddof=1)) if n > 1 else float("nan")
        half = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else float("nan")
        if n < 2:
            verdict = "one seed"
        elif mean + half < 0:
            verdict = "lower"
        elif mean - half > 0:
            verdict = "higher"
        else:
            verdict = "unclear"
        rows.append({"model": other, "seeds": n, "per_seed": {int(k): float(v) for k, v in d.items()}, "mean": mean,
                     "std": std, "ci95": half, "verdict": verdict})
    return _ordered(pd.DataFrame(rows, columns=["model", "seeds", "per_seed", "mean", "std", "ci95", "verdict"]))


def _long(results, key: str, columns: SequenceOf[str]) -> pd.DataFrame:
    rows = []
    for r in records_of(results):
        for item in r.get(key, []) or []:
            rows.append({"model": r["model"], "seed": int(r["seed"]), **{c: item.get(c) for c in columns}})
    return _ordered(pd.DataFrame(rows, columns=["model", "seed", *columns]))


def robustness_frame(results) -> pd.DataFrame:
    """Long table: model, seed, perturbation (noise | dropout), level (px | fraction), P1, P2 (mm)."""
    return _long(results, "robustness", ["perturbation", "level", "P1", "P2"])


def per_joint_frame(results) -> pd.DataFrame:
    """Long table: model, seed, joint, group, side, P1 (mm, averaged over actions)."""
    return _long(results, "per_joint", ["joint", "group", "side", "P1"])


def per_action_frame(results) -> pd.DataFrame:
    """Long table: model, seed, action, frames, P1, P2, N-MPJPE, MPJVE (mm)."""
    return _long(results, "per_action", ["action", "frames", *METRICS])


def write_tables(results, prefix: str | os.PathLike) -> dict[str, Path]:
    """Write the CSV tables next to a results file: ``<prefix>_{summary,runs,robustness,per_joint,per_action}.csv``."""
    prefix = Path(prefix)
    tables = {
        "summary": summarise(results),
        "runs": runs_frame(results),
        "robustness": robustness_frame(results),
        "per_joint": per_joint_frame(results),
        "per_action": per_action_frame(results),
    }
    written = {}
    for name, table in tables.items():
        path = prefix.with_name(f"{prefix.name}_{name}.csv")
        with atomic_write(path, "w") as handle:
            table.to_csv(handle, index=False, float_format="%.3f")
        written[name] = path
    return written
