"""The balanced multi-dataset step, loss, schedule, and `cellseg train` with interruption and resume."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml

from cellseg.cli import main
from cellseg.errors import CellsegError
from cellseg.targets import IGNORE
from cellseg.training.losses import SegLoss
from cellseg.training.trainer import TrainConfig, Trainer, lr_factor

from .conftest import data_path


def test_warmup_then_cosine():
    f = [lr_factor(s, 10, 110) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[60] == pytest.approx(0.505, abs=0.01)
    assert f[-1] == pytest.approx(0.01, abs=0.002)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


def test_loss_ignores_unknown_pixels_and_weights_classes():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    target = torch.randint(0, 3, (2, 16, 16))
    target[:, :8] = IGNORE
    SegLoss()(logits, target).backward()
    assert logits.grad[:, :, :8].abs().max() == 0  # ignored pixels teach nothing
    assert logits.grad[:, :, 8:].abs().max() > 0
    t = torch.full((1, 4, 4), 2)
    lg = torch.zeros(1, 3, 4, 4)
    plain, weighted = SegLoss(None, 0.0)(lg, t), SegLoss((1, 5, 10), 0.0)(lg, t)
    assert plain == pytest.approx(weighted)  # a single class: weights cancel in the mean...
    t[0, 0, 0] = 0
    assert SegLoss((1, 5, 10), 0.0)(lg, t) == pytest.approx(SegLoss(None, 0.0)(lg, t))  # ...uniform logits too
    lg[:, 2] = 2.0  # confident boundary everywhere: background pixel costs more, weighted less
    assert SegLoss((1, 5, 10), 0.0)(lg, t) < SegLoss(None, 0.0)(lg, t)


def tiny_config(tmp_path, steps, **kw):
    root = data_path()
    cfg = {
        "data_root": str(root),
        "out": str(tmp_path / "run"),
        "steps": steps,
        "batch": 1,
        "crop": 256,
        "warmup": 1,
        "val_every": 2,
        "val_max_frames": 1,
        "save_every": 1,
        "workers": 0,
        "device": "cpu",
        "model": {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 16, 8]},
        "datasets": [
            {"name": "ecoli", "kind": "folder", "path": "folders/ecoli-trpL-phc", "val_every": 10},
            {
                "name": "sim",
                "kind": "ctc",
                "path": "ctc/Fluo-N2DH-SIM+",
                "train": [{"seq": "01", "frames": "0-2"}],
                "val": [{"seq": "01", "frames": [60]}],
            },
        ],
        **kw,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_balanced_step_draws_one_batch_from_every_dataset(tmp_path):
    trainer = Trainer(TrainConfig.from_yaml(tiny_config(tmp_path, 1)))
    calls = {"a": 0, "b": 0, "c": 0}

    def loader(name):
        while True:
            calls[name] += 1
            yield torch.randn(2, 1, 64, 64), torch.randint(0, 3, (2, 64, 64))

    before = [p.detach().clone() for p in trainer.model.parameters()]
    losses = trainer.train_step({n: loader(n) for n in calls})
    assert calls == {"a": 1, "b": 1, "c": 1}
    assert set(losses) == set(calls) and all(np.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_a_resumed_loader_draws_exactly_the_crops_of_an_uninterrupted_one(blobs):
    from cellseg.datasets import Sample
    from cellseg.training.data import infinite_loader

    img, lab = blobs
    samples = [
        Sample(img, lab.astype(np.int32), "d", "d/0"),
        Sample(img[::-1].copy(), lab[::-1].astype(np.int32), "d", "d/1"),
    ]
    whole = infinite_loader(samples, 64, 3, 2, 7, False)  # two workers
    batches = [next(whole) for _ in range(5)]
    resumed = infinite_loader(samples, 64, 3, 0, 7, False, start=3 * 3)  # 3 steps done, no workers
    for expected in batches[3:]:
        x, y = next(resumed)
        torch.testing.assert_close(x, expected[0])
        torch.testing.assert_close(y, expected[1])
    assert not torch.equal(batches[0][0], batches[1][0])  # the stream is not one crop repeated


@pytest.mark.slow
def test_train_interrupt_and_resume(tmp_path, monkeypatch, capsys):
    cfg = tiny_config(tmp_path, 4)
    original = Trainer.train_step

    def stop_after_two(self, loaders):
        out = original(self, loaders)
        if self.step == 1:  # the step being taken is the 2nd: ask to stop, as SIGINT would
            self._request_stop(2, None)
        return out

    monkeypatch.setattr(Trainer, "train_step", stop_after_two)
    assert main(["train", str(cfg)]) == 0
    assert "resume" in capsys.readouterr().out
    run = tmp_path / "run"
    assert (run / "last" / "model.safetensors").is_file() and (run / "state.pt").is_file()
    monkeypatch.setattr(Trainer, "train_step", original)
    assert main(["train", str(cfg)]) == 0
    assert "resumed from" in capsys.readouterr().out
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]  # no step lost, none repeated
    assert {"ecoli", "sim"} <= set(rows[0]) and rows[1]["val_seg"] != ""
    import json

    curve = [json.loads(r) for r in (run / "val_curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == [2, 4] and {"ecoli", "sim", "mean", "crops"} <= set(curve[0])
    assert (run / "best" / "config.json").is_file()
    from cellseg.modelfile import load_model

    _, meta = load_model(run / "best")
    assert meta["training"]["datasets"] == {"ecoli": 18, "sim": 3}
    assert 0.0 <= meta["training"]["best_val_seg"] <= 1.0
    batch = meta["training"]["batch_per_dataset"]
    assert meta["training"]["init"] is None and meta["training"]["crops"] == meta["training"]["steps"] * batch * 2
    assert meta["training"]["crops_in_all"] == meta["training"]["crops"]  # from scratch: its own crops


def test_dim_objects_dims_some_cells_and_keeps_background():
    from cellseg.training.augment import dim_objects, random_gamma

    image = np.full((40, 40), 0.1, np.float32)
    labels = np.zeros((40, 40), np.int32)
    for k in range(1, 11):
        labels[(k - 1) * 4 : (k - 1) * 4 + 3, 5:15] = k
    image[labels > 0] = 1.0
    out = dim_objects(image, labels, np.random.default_rng(3), p=1.0, fraction=0.5)
    assert np.array_equal(out[labels == 0], image[labels == 0])
    means = [out[labels == k].mean() for k in range(1, 11)]
    dimmed = [m for m in means if m < 0.99]
    assert 1 <= len(dimmed) <= 9 and all(0.1 < m <= 0.1 + 0.9 * 0.7 + 1e-6 for m in dimmed)
    assert dim_objects(image, labels, np.random.default_rng(3), p=0.0) is image
    g = random_gamma(image, np.random.default_rng(0), p=1.0)
    assert g.shape == image.shape and not np.allclose(g, image) and g.max() == pytest.approx(1.0)


def test_config_inherits_its_base_and_overrides_model_entries(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "steps: 7\nlr: 0.5\nmodel: {encoder: resnet18, in_channels: 1}\n"
        "datasets: [{name: a, layout: folder, path: a}]\n"
    )
    (tmp_path / "row.yaml").write_text("base: base.yaml\nlr: 0.1\nmodel: {in_channels: 2}\n")
    cfg = TrainConfig.from_yaml(tmp_path / "row.yaml")
    assert (cfg.steps, cfg.lr) == (7, 0.1)
    assert cfg.model == {"encoder": "resnet18", "in_channels": 2}
    assert cfg.dataset_specs()[0].name == "a"
    (tmp_path / "out.yaml").write_text("base: base.yaml\nleave_out: [a]\n")
    assert TrainConfig.from_yaml(tmp_path / "out.yaml").dataset_specs() == []  # a left out of training
    (tmp_path / "more.yaml").write_text("base: base.yaml\nextra_datasets: [{name: b, layout: folder, path: b}]\n")
    assert [d.name for d in TrainConfig.from_yaml(tmp_path / "more.yaml").dataset_specs()] == ["a", "b"]
    (tmp_path / "typo.yaml").write_text("base: base.yaml\nleave_out: [yeast]\n")
    with pytest.raises(CellsegError, match="leave_out names no dataset"):
        TrainConfig.from_yaml(tmp_path / "typo.yaml")
    (tmp_path / "orphan.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(CellsegError, match="missing.yaml"):
        TrainConfig.from_yaml(tmp_path / "orphan.yaml")


def test_training_can_start_from_a_model_and_records_its_input_contract(tmp_path, tiny_model_dir, capsys):
    from safetensors.torch import load_file

    cfg = TrainConfig.from_yaml(tiny_config(tmp_path, 1, init=str(tiny_model_dir), rgb="hematoxylin"))
    trainer = Trainer(cfg)
    start = load_file(str(tiny_model_dir / "model.safetensors"))
    for k, v in trainer.model.state_dict().items():
        torch.testing.assert_close(v, start[k].float())
    trainer.replace_best()
    from cellseg.modelfile import load_model

    _, meta = load_model(trainer.out / "best")
    assert meta["input"] == {"rgb": "hematoxylin", "channels": ["signal"]}
    # the tiny model records no crops: the lineage's total is unknown, not this run's alone
    assert meta["training"]["init"] == str(tiny_model_dir) and meta["training"]["crops_in_all"] is None
    import json
    import shutil

    seen = tmp_path / "seen"
    shutil.copytree(tiny_model_dir, seen)
    info = json.loads((seen / "config.json").read_text())
    (seen / "config.json").write_text(json.dumps({**info, "training": {"crops_in_all": 1000, "crops": 400}}))
    trainer = Trainer(TrainConfig.from_yaml(tiny_config(tmp_path, 1, init=str(seen))))
    trainer.step = 3
    assert trainer.summary()["training"]["crops_in_all"] == 1000 + trainer.summary()["training"]["crops"] > 1000
    # a model that records no seeds was trained on seed 0: warm-starting it on seed 0 draws the same crops again
    assert "draws the same crops again" in capsys.readouterr().err
    assert trainer.summary()["training"]["lineage_seeds"] == [0]
    trainer = Trainer(TrainConfig.from_yaml(tiny_config(tmp_path, 1, init=str(seen), seed=4)))
    assert "same crops" not in capsys.readouterr().err
    assert trainer.summary()["training"]["seed"] == 4 and trainer.summary()["training"]["lineage_seeds"] == [0, 4]
    with pytest.raises(CellsegError, match="rgb must be one of"):
        Trainer(TrainConfig.from_yaml(tiny_config(tmp_path, 1, rgb="purple")))


@pytest.mark.slow
def test_a_finished_run_with_object_size_fits_its_size_regression(tmp_path):
    from cellseg.inference import Segmenter

    cfg = tiny_config(tmp_path, 2, object_diameter=30, size_views=6)
    Trainer(TrainConfig.from_yaml(cfg)).run()
    seg = Segmenter(tmp_path / "run" / "best", device="cpu")
    assert seg.model_diameter == 30 and seg.size_model is not None
    assert seg.size_model.fit["views"] == 12 and set(seg.size_model.fit["datasets"]) == {"ecoli", "sim"}
    img = np.random.default_rng(0).normal(100, 10, (200, 200)).astype(np.float32)
    seg.segment(img)
    assert seg.last_diameter is not None and seg.last_diameter > 0


def test_validation_curve_prints_a_table_and_plots_it(tmp_path, capsys):
    import json

    from cellseg.training.curve import main as curve
    from cellseg.training.curve import on_path

    rows = [{"step": s, "crops": 18 * s, "mean": m, "a": m - 0.1, "b": m + 0.1} for s, m in ((500, 0.4), (1000, 0.5))]
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "val_curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = curve([str(tmp_path / "first"), "--png", str(tmp_path / "c.png")])
    assert got == [{**r, "run": "first", "start": 0} for r in rows]
    out = capsys.readouterr().out
    assert "| first | 1000 | 18,000 | 0.500 | 0.400 | 0.600 |" in out
    assert (tmp_path / "c.png").stat().st_size > 1000
    # a second stage, warm-started from weights that had seen 9,000 crops: one curve, shifted
    both = curve([str(tmp_path / "first"), str(tmp_path / "second") + "+9000", "--png", str(tmp_path / "d.png")])
    assert [(r["run"], r["crops"]) for r in both] == [
        ("first", 9000),
        ("first", 18000),
        ("second", 18000),
        ("second", 27000),
    ]
    assert "| second | 1000 | 27,000 | 0.500 |" in capsys.readouterr().out
    # the plot follows the weights the model went on from: not the first stage's row past 9,000 crops
    assert [(r["run"], r["crops"]) for r in on_path([both[:2], both[2:]])] == [("first", 9000)] + [
        ("second", 18000),
        ("second", 27000),
    ]
    with pytest.raises(SystemExit, match="no validation curve"):
        curve([str(tmp_path / "empty")])
    with pytest.raises(SystemExit, match="RUN\\+CROPS"):
        curve([str(tmp_path / "second") + "+many"])


def test_a_cycle_replaces_v2_preview_only_on_a_higher_mean_over_the_defaults_sets(tmp_path):
    from cellseg.training.judge_cycle import keeps, reused_reports, summary
    from cellseg.training.judge_cycle import main as judge
    from cellseg.training.report import trained_on

    seg = lambda **v: {k: {"SEG": x} for k, x in v.items()}  # noqa: E731
    # a new set (c) the preview never scored is left out of the comparison, whatever its score
    assert keeps(seg(a=0.8, b=0.6, c=0.0), seg(a=0.7, b=0.6), ["a", "b", "c"]) == (True, 0.7, pytest.approx(0.65))
    assert keeps(seg(a=0.7, b=0.6), seg(a=0.7, b=0.6), ["a", "b"])[0] is False  # a tie keeps the preview
    with pytest.raises(SystemExit, match="share no dataset"):
        keeps(seg(a=0.8), seg(b=0.6), ["a", "b"])
    # the file that keeps a cycle's figures in the repo: the whole report, the preview's figures, the verdict
    report = {"model": seg(a=0.8), "against": seg(a=0.75), "baseline": seg(a=0.2), "ships": True}
    kept = summary("v2_cycle9", report, {"model": seg(a=0.7)}, True, (0.8, 0.7))
    assert kept["report"]["against"] == seg(a=0.75) and kept["v2_preview"] == seg(a=0.7)
    # --reuse: the next cycle segments only itself; the default's, baseline's and preview's figures come from here
    shared = {n: 0.8 for n in trained_on("default")}
    base = seg(**{n: 0.2 for n in shared})
    earlier = summary("v2_cycle9", {**report, "against": seg(**shared), "baseline": base}, {"model": seg(a=0.7)},
                      True, (0.8, 0.7))  # fmt: skip
    again, preview = reused_reports({"model": seg(**{n: 0.81 for n in shared})}, earlier)
    assert again["ships"] and again["against"] == seg(**shared)
    assert preview == {"model": earlier["report"]["model"]}  # the cycle judged there replaced v2_preview
    not_kept = {**earlier, "replaces_v2_preview": False}
    # a cycle not kept leaves the preview it was judged against
    assert reused_reports({"model": seg(**shared)}, not_kept)[1] == {"model": seg(a=0.7)}
    below = {**{n: 0.81 for n in shared}, next(iter(shared)): 0.79}
    assert not reused_reports({"model": seg(**below)}, earlier)[0]["ships"]  # one shared set below the default
    assert kept["replaces_v2_preview"] is True
    assert kept["mean_seg_over_the_defaults_sets"] == {"v2_cycle9": 0.8, "v2_preview": 0.7}
    cfg = tmp_path / "cycle.yaml"
    cfg.write_text(f"out: {tmp_path / 'run'}\nsteps: 10\ndatasets: []\n")
    with pytest.raises(SystemExit, match="no validated best checkpoint"):
        judge([str(cfg)])


def test_all_sets_judging_scores_the_reused_models_on_the_sets_the_earlier_judgement_lacked(tmp_path):
    """--all-sets with --reuse: only the sets missing from the earlier report are scored again (v2_preview, the
    default and the baseline), merged in, and the shipping verdict covers them (a new set: beat the baseline)."""
    import yaml

    from cellseg.training.judge_cycle import merge_missing, missing_sets_config
    from cellseg.training.trainer import TrainConfig

    cfg = tmp_path / "cycle.yaml"
    sets = [{"name": n, "layout": "folder", "root": "cache", "path": n} for n in ("a", "b", "c")]
    cfg.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "datasets": sets}))
    assert missing_sets_config(str(cfg), {"a", "b", "c"}, tmp_path) is None
    missing = missing_sets_config(str(cfg), {"a", "b"}, tmp_path)
    assert [s.name for s in TrainConfig.from_yaml(missing).dataset_specs()] == ["c"]
    seg = lambda **v: {k: {"SEG": x} for k, x in v.items()}  # noqa: E731
    report = {"model": seg(a=0.9, c=0.3), "against": seg(a=0.8), "baseline": seg(a=0.1), "ships": True}
    preview = {"model": seg(a=0.85)}
    merge_missing(report, preview, {"model": seg(c=0.2), "against": seg(c=0.25), "baseline": seg(c=0.4)})
    assert preview["model"]["c"] == {"SEG": 0.2} and report["baseline"]["c"] == {"SEG": 0.4}
    assert report["ships"] is False  # c is a new set for the default, and the candidate is below the baseline
    # the candidate's report holds a set the earlier judgement lacked: the reused verdict waits for merge_missing
    from cellseg.training.judge_cycle import reused_reports
    from cellseg.training.report import trained_on

    shared = {n: 0.8 for n in trained_on("default")}
    earlier = {"run": "v2_cycle9", "report": {"model": seg(**shared), "against": seg(**shared),
               "baseline": seg(**shared)}, "v2_preview": seg(**shared), "replaces_v2_preview": False}  # fmt: skip
    again, _ = reused_reports({"model": seg(**{n: 0.81 for n in shared}, new_set=0.5)}, earlier)
    assert again["ships"] is True and "new_set" not in again["against"]


def test_a_cycles_end_heads_the_line_in_float16_with_where_it_came_from(tmp_path, tiny_model_dir, monkeypatch):
    import torch
    from safetensors.torch import load_file

    from cellseg.modelfile import load_model, read_model_config, save_model
    from cellseg.training import judge_cycle

    model, _ = load_model(tiny_model_dir)
    last = save_model(model, tmp_path / "run" / "last", half=False, training={"init": "v2_preview", "crops": 52800,
                      "crops_in_all": 195600})  # fmt: skip
    monkeypatch.setattr(judge_cycle, "ROOT", tmp_path)
    monkeypatch.setattr(judge_cycle, "LINE", tmp_path / "training" / "line")
    assert judge_cycle.head_the_line(last, "cycle10.yaml", 142800, 1.4, None) == "training/line"
    head = read_model_config(tmp_path / "training" / "line")["training"]
    assert head["init"] == "v2_preview (142,800 crops in all)" and head["crops_in_all"] == 195600
    assert head["config"] == "cycle10.yaml" and head["hours"] == 1.4 and head["kept_as"] is None
    weights = load_file(str(tmp_path / "training" / "line" / "model.safetensors"))
    assert all(w.dtype == torch.float16 for w in weights.values() if w.is_floating_point())
    again, _ = load_model(tmp_path / "training" / "line")  # the same network, to float16's precision
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-3), k


def test_a_judgement_without_wait_takes_the_hours_from_the_step_log(tmp_path):
    from cellseg.training.judge_cycle import logged_hours

    assert logged_hours(tmp_path) is None  # no log, no hours
    (tmp_path / "log.csv").write_text("step,lr,loss,seconds,val_seg\n1,1e-4,0.7,1800.0,\n2,1e-4,0.6,3600.0,0.71\n")
    assert logged_hours(tmp_path) == 1.5


def _torchrun(cfg, *extra):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "cellseg", "train", str(cfg)]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_torchrun_trains_on_two_processes_and_resumes_exactly(tmp_path):
    """2 CPU ranks (gloo): identical weights on both, one log, and 2 steps + resume = 3 straight steps."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight = tiny_config(tmp_path / "a", 3, crop=128)
    done = _torchrun(straight)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "weights identical on 2 ranks at step 3" in done.stdout
    assert done.stdout.count("best validation SEG") == 1  # rank 0 speaks for the job
    with open(tmp_path / "a" / "run" / "log.csv") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["1", "2", "3"]  # rank 0 alone logs
    resumed = tiny_config(tmp_path / "b", 3, crop=128)
    paused = _torchrun(resumed, "--stop-at", "2")
    assert paused.returncode == 0 and "stopped at step 2 of 3" in paused.stdout
    again = _torchrun(resumed)
    assert again.returncode == 0 and "resumed from" in again.stdout and "at step 3" in again.stdout
    a = torch.load(tmp_path / "a" / "run" / "state.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "run" / "state.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_a_soup_interpolates_the_weights_of_two_models_of_one_network(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    from cellseg.model import build_model
    from cellseg.modelfile import load_model, read_model_config, save_model
    from cellseg.training.soup import soup

    torch.manual_seed(1)
    other = save_model(build_model(encoder="resnet18", encoder_depth=3, decoder_channels=(16, 16, 8), aspp=True),
                       tmp_path / "other", training={"datasets": {"b": {}}})  # fmt: skip
    half = soup(str(tiny_model_dir), str(other), 0.5, tmp_path / "half")
    a, b, m = (load_file(str(p / "model.safetensors")) for p in (tiny_model_dir, other, half))
    k = next(k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k]))
    torch.testing.assert_close(m[k].float(), (a[k].float() + b[k].float()) / 2, atol=2e-3, rtol=1e-3)
    start = soup(str(tiny_model_dir), str(other), 0.0, tmp_path / "start")
    assert torch.equal(load_file(str(start / "model.safetensors"))[k], a[k])  # alpha 0 is the first model
    meta = read_model_config(half)
    assert meta["training"]["soup"]["alpha"] == 0.5 and "b" in meta["training"]["datasets"]
    load_model(half)  # opens as any model does
    wider = save_model(build_model(encoder="resnet18", encoder_depth=3, decoder_channels=(32, 16, 8), aspp=True),
                       tmp_path / "wider")  # fmt: skip
    with pytest.raises(CellsegError, match="differ in 'model'"):
        soup(str(tiny_model_dir), str(wider), 0.5, tmp_path / "bad")
    with pytest.raises(CellsegError, match="alpha"):
        soup(str(tiny_model_dir), str(other), 1.5, tmp_path / "bad")


def test_the_line_curve_adds_a_judged_cycle_in_crop_order_and_refuses_a_mean_over_missing_sets(tmp_path):
    from cellseg.training.line_curve import add, main, mean

    doc = {
        "mean_over": ["a", "b"],
        "points": [
            {"model": "v1", "crops_in_all": 100, "seg": {"a": 0.5, "b": 0.7}},
            {"model": "c2", "crops_in_all": 900, "seg": {"a": 0.8, "b": 0.8}},
        ],
    }
    report = tmp_path / "c1.json"
    report.write_text(json.dumps({"report": {"model": {"a": {"SEG": 0.7}, "b": {"SEG": 0.9}, "c": {"SEG": 0.1}}}}))
    add(doc, "c1", 400, report)
    assert [p["model"] for p in doc["points"]] == ["v1", "c1", "c2"]
    assert mean(doc["points"][1], doc["mean_over"]) == pytest.approx(0.8)  # set c is not in the mean
    add(doc, "c1", 400, report)  # adding it again replaces it
    assert len(doc["points"]) == 3
    with pytest.raises(SystemExit, match="no SEG for b"):
        mean({"model": "x", "seg": {"a": 0.5}}, ["a", "b"])
    path = tmp_path / "line.json"
    path.write_text(json.dumps(doc))
    main([str(path), "--png", str(tmp_path / "line.png")])
    assert (tmp_path / "line.png").stat().st_size > 1000
