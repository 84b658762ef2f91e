"""Judge a finished v2 training cycle and keep it if the full report says it is better than ``v2_preview``.

    python -m cellseg.training.judge_cycle training/configs/generalist_v2_cycle6.yaml [--wait] [--commit]

The steps a session used to take by hand once a cycle ended, run by a process that waits for the cycle, so that
a session cut off while a cycle runs cannot lose it (cycle 4 was lost that way, ``docs/experiments.md``):

1. ``--wait``: wait until no process trains CONFIG (the time it has run so far is the cycle's hours; without it,
   or when it finds none running, the hours are the sum of the run's logged step times, :func:`logged_hours`);
2. the segmenting size of the run's best checkpoint on training frames (``benchmarks/working_scale.py --write``);
3. the full report (every validation frame) of that checkpoint against the default, and of ``v2_preview`` on
   the same machine (``cellseg.training.report``, figures in RUN/report.json and RUN/report_v2_preview.json);
4. the validation curve's figure (``docs/figures/curve_<run>.png``);
5. both reports and the curve's rows in one file, ``docs/reports/<run>.json`` (:func:`summary`), so that the
   figures outlive the run folder (cycle 5's went with its machine; cycle 11's curve, with its, to all but its figure);
6. if its mean SEG over the sets the default trained on beats ``v2_preview``'s (:func:`keeps`), it becomes
   ``v2_preview`` (its JSON gains where it started, its config and hours).

``--all-sets`` (from cycle 10): the candidate is scored on every set of CONFIG, not only those of
``generalist_v2.yaml``, and the keep rule is its mean over all the sets both reports hold (v1's 9 are still
printed and recorded). ``--line``: whether kept or not, the cycle's end (its last checkpoint) becomes the line's
head, ``training/line/`` (float16 safetensors + JSON), which the next cycle warm-starts from, so that a run that
spans sessions on fresh machines goes on where it stopped and its crops add up (:data:`LINE`); the best checkpoint,
chosen by validation frames, is what is judged. ``--line-only``: only the curve and the line's head, for a cycle
that a later one's judgement covers.

``--reuse docs/reports/<earlier run>.json`` takes the default's, the baseline's and ``v2_preview``'s figures from an
earlier judgement instead of segmenting them again (the same frames and code; only when none of the three has
changed since), so only the candidate is segmented: about 15 minutes less on 2 cores (:func:`reused_reports`).

With ``--commit`` the figure, the reports' file and the config are committed, and the model's folder if it was
kept: only those paths, whatever else the working tree holds.

A cycle becomes the default only by hand, on the report's shipping verdict (README, model card).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cellseg.modelfile import read_model_config, write_model_config

from .curve import read_curve
from .report import trained_on
from .trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PREVIEW = "v2_preview"
LINE = ROOT / "training" / "line"  # the head of the line: the last cycle's end (its last checkpoint)
REPORT_CONFIG = "training/configs/generalist_v2.yaml"  # the sets judged without --all-sets


def keeps(candidate: dict, preview: dict, sets: list[str]) -> tuple[bool, float, float]:
    """Whether a cycle replaces v2_preview: its mean SEG over ``sets`` (from report.py's figures) is higher."""
    both = [s for s in sets if s in candidate and s in preview]
    if not both:
        raise SystemExit("the two reports share no dataset: nothing to compare")
    mean = lambda r: sum(r[s]["SEG"] for s in both) / len(both)  # noqa: E731
    return mean(candidate) > mean(preview), mean(candidate), mean(preview)


def summary(run: str, cycle: dict, preview: dict, kept: bool, means: tuple[float, float]) -> dict:
    """What ``docs/reports/<run>.json`` holds: report.py's JSON of the cycle (the cycle, the default and the
    baseline, every set) and ``v2_preview``'s figures, with the verdict of :func:`keeps`."""
    return {
        "run": run,
        "report": cycle,
        "v2_preview": preview["model"],
        "mean_seg_over_the_defaults_sets": {run: round(means[0], 4), PREVIEW: round(means[1], 4)},
        "replaces_v2_preview": kept,
    }


def missing_sets_config(config: str, have: set, out: Path) -> Path | None:
    """A config in ``out`` that keeps only the sets of ``config`` missing from ``have`` (None: none is missing),
    for scoring the reused models on the sets an earlier judgement did not hold."""
    names = [s.name for s in TrainConfig.from_yaml(config).dataset_specs()]
    if not set(names) - have:
        return None
    path = out / "report_missing_sets.yaml"
    base = Path(config).resolve()
    path.write_text(json.dumps({"base": str(base), "out": str(out / "report_missing_sets"),
                                "leave_out": sorted(set(names) & have)}))  # fmt: skip
    return path


def merge_missing(report: dict, preview: dict, missing: dict) -> None:
    """Add a ``report.py --model v2_preview --against default`` of the missing sets to the reused reports, and
    give the shipping verdict again over all of them."""
    from .report import ship_verdict

    for name in missing["model"]:
        preview["model"][name] = missing["model"][name]
        report["against"][name] = missing["against"][name]
        report["baseline"][name] = missing["baseline"][name]
    report["ships"], _ = ship_verdict(
        report["model"], report["against"], report["baseline"], set(trained_on("default"))
    )


def reused_reports(candidate: dict, earlier: dict) -> tuple[dict, dict]:
    """(the cycle's report, v2_preview's) from the candidate's own report (``--no-baseline``) and an earlier
    ``docs/reports/<run>.json``: the default's and the baseline's figures and the shipping verdict as
    ``report.py --against default`` would give them; v2_preview's as that judgement left it: the cycle it judged
    when that cycle replaced v2_preview, otherwise the v2_preview it was judged against."""
    from .report import ship_verdict

    old = earlier["report"]
    scored = {k: v for k, v in candidate["model"].items() if k in old["against"]}  # merge_missing adds the rest
    ships, _ = ship_verdict(scored, old["against"], old["baseline"], set(trained_on("default")))
    report = {"model": candidate["model"], "baseline": old["baseline"], "against": old["against"], "ships": ships}
    report["reused_from"] = earlier["run"]
    preview = old["model"] if earlier["replaces_v2_preview"] else earlier["v2_preview"]
    return report, {"model": preview}


def started_from(init: str | None, start: int | None) -> str | None:
    """What a kept model's JSON says it started from: the init, with the crops its lineage had seen."""
    return f"{init} ({start:,} crops in all)" if start else init


def commit(paths: list[str], msg: str) -> None:
    """Commit only ``paths``, whatever else the working tree holds."""
    subprocess.run(["git", "add", *paths], check=True, cwd=ROOT)
    subprocess.run(["git", "commit", "-q", "-m", msg, "--", *paths], check=True, cwd=ROOT)


def head_the_line(checkpoint: Path, config: str, start: int | None, hours: float | None, kept_as: str | None) -> str:
    """Write a cycle's last checkpoint (its end: the line is one long run, continued where it stopped; the best
    checkpoint is what is judged) to :data:`LINE` in float16, its JSON gaining where it started, its config,
    hours and whether the cycle was kept as v2_preview (None: not judged or not kept); the path to commit."""
    from cellseg.modelfile import load_model, save_model

    model, meta = load_model(checkpoint)
    info = {k: v for k, v in meta.items() if k not in ("format", "version", "model", "normalization", "input")}
    info["training"] = dict(meta["training"], init=started_from(meta["training"].get("init"), start),
                            config=config, hours=hours, kept_as=kept_as)  # fmt: skip
    save_model(model, LINE, half=True, rgb=meta.get("input", {}).get("rgb"), **info)
    crops = info["training"].get("crops_in_all") or info["training"]["crops"]
    print(f"the line's head is now {checkpoint} ({crops:,} crops in all): {LINE.relative_to(ROOT)}")
    return str(LINE.relative_to(ROOT))


def running_seconds(config: str) -> float | None:
    """How long the oldest process training ``config`` has run (None when none is)."""
    found = subprocess.run(["pgrep", "-of", f"cellseg train {config}"], capture_output=True, text=True)
    if not found.stdout.strip():
        return None
    pid = found.stdout.split()[0]
    return float(subprocess.run(["ps", "-o", "etimes=", "-p", pid], capture_output=True, text=True).stdout)


def logged_hours(out: Path) -> float | None:
    """A run's compute hours from its step log (the sum of ``log.csv``'s seconds: its steps and validations, not
    the time it sat stopped between a stop and a resume); None without a log. For a judgement run without
    ``--wait``."""
    try:
        with open(out / "log.csv", newline="") as f:
            return round(sum(float(r["seconds"]) for r in csv.DictReader(f)) / 3600, 2)
    except FileNotFoundError:
        return None


def run(*args: str, log: Path) -> None:
    """A step of the judgement, its output in ``log``; a failing step stops the judgement."""
    print(f"$ {' '.join(args)}  > {log}", flush=True)
    with open(log, "w") as f:
        subprocess.run([sys.executable, *args], stdout=f, stderr=subprocess.STDOUT, check=True, cwd=ROOT)


def main(argv=None) -> bool:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="the cycle's training config (its 'out' is the run folder)")
    p.add_argument("--wait", action="store_true", help="first wait until no process trains this config")
    p.add_argument("--commit", action="store_true", help="commit the new v2_preview (only its paths)")
    p.add_argument("--factors", default="1 0.85 0.7", help="benchmarks/working_scale.py's size factors")
    p.add_argument("--reuse", help="an earlier docs/reports/<run>.json: its default, baseline and v2_preview figures")
    p.add_argument("--all-sets", action="store_true", help="score every set of CONFIG; keep on the mean over all")
    p.add_argument("--line", action="store_true", help="the cycle's end becomes training/line/, kept or not")
    p.add_argument(
        "--line-only",
        action="store_true",
        help="no reports, no keep: only the curve and the line's head (judged in full by a later cycle)",
    )
    a = p.parse_args(argv)
    cfg = TrainConfig.from_yaml(a.config)
    out, hours = Path(cfg.out), None
    if a.wait:
        t0, ran = time.time(), running_seconds(a.config)
        while running_seconds(a.config) is not None:
            time.sleep(30)
        hours = None if ran is None else round((ran + time.time() - t0) / 3600, 2)
    if hours is None:
        hours = logged_hours(out)
    best = out / "best"
    if not (best / "config.json").is_file() or not (out / "val_curve.jsonl").is_file():
        raise SystemExit(f"{out}: no validated best checkpoint (did the run validate?)")
    if read_model_config(out / "last")["training"]["steps"] < cfg.steps:
        raise SystemExit(f"{out}: the run stopped before its last step; resume it first")
    start = read_model_config(cfg.init)["training"].get("crops_in_all") if cfg.init else None
    figure = Path("docs/figures") / f"curve_{out.name}.png"
    if a.line_only:  # a cycle cut short by the session's end: its crops join the line, a later one is judged
        run("-m", "cellseg.training.curve", f"{out}+{start or 0}", "--png", str(figure), log=out / "curve.log")
        paths = [str(figure), a.config, head_the_line(out / "last", a.config, start, hours, None)]
        if a.commit:
            commit(
                paths, f"{out.name} heads the line (training/line), not judged; committed by training/judge_cycle.py"
            )
        return False
    report = "cellseg.training.report"
    if "segment_diameter" not in read_model_config(best) or not (out / "working_scale.log").is_file():
        run("benchmarks/working_scale.py", "--model", str(best), "--factors", *a.factors.split(), "--write",
            log=out / "working_scale.log")  # fmt: skip
    judged_on = a.config if a.all_sets else REPORT_CONFIG
    if a.reuse:
        if not (out / "report_candidate.json").is_file():  # a judgement run again after a failure reuses it
            run("-m", report, judged_on, "--model", str(best), "--no-baseline",
                "--json", str(out / "report_candidate.json"), log=out / "report.log")  # fmt: skip
        cand, earlier = (json.loads(Path(f).read_text()) for f in (out / "report_candidate.json", a.reuse))
        new, old = reused_reports(cand, earlier)
        missing = missing_sets_config(judged_on, set(old["model"]), out)
        if missing is not None:  # sets the earlier judgement did not score: v2_preview, default and baseline
            run("-m", report, str(missing), "--model", PREVIEW, "--against", "default",
                "--json", str(out / "report_missing_sets.json"), log=out / "report_missing_sets.log")  # fmt: skip
            merge_missing(new, old, json.loads((out / "report_missing_sets.json").read_text()))
        for f, r in zip(("report.json", "report_v2_preview.json"), (new, old)):
            (out / f).write_text(json.dumps(r, indent=1))
    else:
        run("-m", report, judged_on, "--model", str(best), "--against", "default",
            "--json", str(out / "report.json"), log=out / "report.log")  # fmt: skip
        run("-m", report, judged_on, "--model", PREVIEW, "--no-baseline",
            "--json", str(out / "report_v2_preview.json"), log=out / "report_v2_preview.log")  # fmt: skip
    run("-m", "cellseg.training.curve", f"{out}+{start or 0}", "--png", str(figure), log=out / "curve.log")
    new, old = (json.loads((out / f).read_text()) for f in ("report.json", "report_v2_preview.json"))
    v1_sets = trained_on("default")
    better, m_new, m_old = keeps(new["model"], old["model"], v1_sets)
    print(f"mean SEG over the default's sets: {out.name} {m_new:.4f}, {PREVIEW} {m_old:.4f}")
    if a.all_sets:
        on_v1 = (round(m_new, 4), round(m_old, 4))
        better, m_new, m_old = keeps(new["model"], old["model"], list(new["model"]))
        print(f"mean SEG over all {len(set(new['model']) & set(old['model']))} sets: {out.name} {m_new:.4f}, "
              f"{PREVIEW} {m_old:.4f} (the keep rule)")  # fmt: skip
    kept = ROOT / "docs" / "reports" / f"{out.name}.json"
    kept.parent.mkdir(exist_ok=True)
    judgement = summary(out.name, new, old, better, (m_new, m_old))
    if a.all_sets:
        judgement["mean_seg_over_all_sets"] = judgement.pop("mean_seg_over_the_defaults_sets")
        judgement["mean_seg_over_the_defaults_sets"] = {out.name: on_v1[0], PREVIEW: on_v1[1]}
    judgement["curve"] = read_curve(f"{out}+{start or 0}")  # the curve's figures too: the run folder may not last
    kept.write_text(json.dumps(judgement, indent=1) + "\n")
    paths = [str(figure), str(kept.relative_to(ROOT)), a.config]
    meta = read_model_config(best)
    crops = meta["training"].get("crops_in_all") or meta["training"]["crops"]
    if better:
        meta["training"].update(init=started_from(cfg.init, start), config=a.config, hours=hours)
        folder = ROOT / "cellseg" / "models" / PREVIEW  # the built-in model's folder in this checkout
        write_model_config(folder / "config.json", meta)
        shutil.copyfile(best / "model.safetensors", folder / "model.safetensors")
        paths.append(str(folder.relative_to(ROOT)))
        print(f"{PREVIEW} is now {out}/best")
    else:
        print(f"{PREVIEW} stays")
    if a.line:
        paths.append(head_the_line(out / "last", a.config, start, hours, PREVIEW if better else None))
    if a.commit:
        verdict = f"{PREVIEW} is now {out.name}" if better else f"{out.name} is not kept; {PREVIEW} stays"
        over = "all sets" if a.all_sets else "the default's sets"
        verdict += "; it heads the line (training/line)" if a.line else ""
        msg = (
            f"{verdict} ({crops:,} crops shown): mean SEG over {over} {m_new:.3f} against {m_old:.3f} "
            f"(full report, {kept.relative_to(ROOT)}); committed by training/judge_cycle.py"
        )
        commit(paths, msg)
        print(f"committed: {msg}")
    return better


if __name__ == "__main__":
    main()
