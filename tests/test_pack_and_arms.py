"""Data packs for a lent machine (training/pack.py), held-out scoring of left-out sets, and the refinement
arms (label smoothing, CutMix, mixup)."""

import json

import numpy as np
import pytest
import torch

from cellseg.errors import CellsegError
from cellseg.targets import IGNORE
from cellseg.training.data import prepare
from cellseg.training.losses import SegLoss, mix_batch
from cellseg.training.pack import load_packed, pack
from cellseg.training.trainer import TrainConfig, Trainer

from .test_training import tiny_config


def test_a_pack_holds_what_the_crop_stream_would_read_from_the_source(tmp_path):
    from cellseg.datasets import load_split
    from cellseg.training.data import resolve_root

    cfg = TrainConfig.from_yaml(tiny_config(tmp_path, 1, object_diameter=30, leave_out=["sim"]))
    record = pack(cfg, tmp_path / "pack")
    assert set(record["datasets"]) == {"ecoli", "sim"}  # left-out sets are packed too (one pack, every row)
    root = resolve_root(cfg.data_root)
    for spec in cfg.all_specs():
        train, val = load_split(spec, root, cfg.rgb)
        ptrain, pval = load_packed(tmp_path / "pack", spec.name, cfg)
        assert len(ptrain) == len(train) and [s.name for s in pval] == [s.name for s in val[: len(pval)]]
        for raw, packed in zip(train, ptrain):
            want = prepare(raw, 1, 30)
            assert packed.image.shape == want.image.shape
            assert (packed.labels == want.labels).mean() > 0.999  # labels lossless (shrunk ones resampled once)
            inside = (want.image > -0.2) & (want.image < 1.7)  # the 8-bit range
            assert np.abs(packed.image - want.image)[inside].mean() < 0.01
    other = TrainConfig.from_yaml(tiny_config(tmp_path, 1, object_diameter=20))
    with pytest.raises(CellsegError, match="packed for"):
        load_packed(tmp_path / "pack", "ecoli", other)
    with pytest.raises(CellsegError, match="not a data pack"):
        load_packed(tmp_path, "ecoli", cfg)


@pytest.mark.slow
def test_a_run_on_a_pack_trains_and_scores_left_out_sets_without_choosing_by_them(tmp_path):
    cfg = TrainConfig.from_yaml(tiny_config(tmp_path, 1, object_diameter=30, leave_out=["sim"]))
    pack(cfg, tmp_path / "pack")
    cfg = TrainConfig.from_yaml(
        tiny_config(tmp_path, 2, object_diameter=30, leave_out=["sim"], packed=str(tmp_path / "pack"), val_at=[1])
    )
    cfg.data_root = str(tmp_path / "nowhere")  # a pack needs no data root
    trainer = Trainer(cfg, {"size_views": 0})
    assert set(trainer.train_sets) == {"ecoli"} and set(trainer.held_out) == {"sim"}
    trainer.run()
    curve = [json.loads(r) for r in (tmp_path / "run" / "val_curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == [1, 2]  # val_at adds step 1 to val_every's step 2
    assert "held_out:sim" in curve[0] and "sim" not in curve[0] and curve[0]["mean"] == curve[0]["ecoli"]
    last = json.loads((tmp_path / "run" / "val_last.json").read_text())
    assert set(last["held_out"]) == {"sim"}


def test_label_smoothing_moves_the_loss_of_a_confident_right_answer():
    logits = torch.zeros(1, 3, 4, 4)
    logits[:, 1] = 8.0
    target = torch.ones(1, 4, 4, dtype=torch.long)
    plain, smooth = SegLoss(None, 0.0)(logits, target), SegLoss(None, 0.0, label_smoothing=0.1)(logits, target)
    assert plain < 0.01 < smooth  # smoothing penalizes over-confidence


def test_cutmix_pastes_a_box_of_image_and_target_and_ignores_its_edge():
    x = torch.stack([torch.full((1, 32, 32), float(i)) for i in range(4)])
    y = torch.stack([torch.full((32, 32), i % 3) for i in range(4)])
    rng = np.random.default_rng(0)
    for _ in range(5):
        mx, my, y2, lam = mix_batch(x, y, rng, cutmix=1.0)
        if not torch.equal(mx, x):
            break
    assert y2 is None and lam == 1.0
    assert not torch.equal(mx, x) and torch.equal(x[:, 0, 0, 0], torch.arange(4.0))  # the input is not changed
    changed = (mx != x)[:, 0]
    assert changed.any() and not changed.all()
    assert (my == IGNORE).any()  # the box edge teaches nothing
    pasted = changed & (my != IGNORE)
    for i in range(4):  # inside the box, image and target come from the same partner crop
        if pasted[i].any():
            partner = int(mx[i, 0][pasted[i]][0])
            assert torch.all(my[i][pasted[i]] == partner % 3)


def test_mixup_blends_images_and_returns_both_targets():
    x = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(3)])
    y = torch.stack([torch.full((8, 8), i) for i in range(3)])
    mx, my, y2, lam = mix_batch(x, y, np.random.default_rng(1), mixup=1.0)
    assert y2 is not None and 0 <= lam <= 1 and torch.equal(my, y)
    partner = y2[:, 0, 0].float()
    torch.testing.assert_close(mx[:, 0, 0, 0], lam * torch.arange(3.0) + (1 - lam) * partner)
    assert not torch.equal(y2, y)
    same = mix_batch(x, y, np.random.default_rng(1))  # no arm: untouched
    assert same[0] is x and same[2] is None


def test_a_fused_step_takes_the_step_of_per_dataset_accumulation(tmp_path):
    """One forward over all datasets' minibatches = one per dataset, for group norm (no shared statistics)."""
    import copy

    trainers = {}
    for fused in (False, True):
        torch.manual_seed(0)
        trainers[fused] = Trainer(TrainConfig.from_yaml(tiny_config(tmp_path, 1, fused=fused, channels_last=False)))
    trainers[True].model.load_state_dict(copy.deepcopy(trainers[False].model.state_dict()))
    assert trainers[False].model.config.norm == "group"
    gen = torch.Generator().manual_seed(1)
    data = {}
    for n in "ab":
        data[n] = (torch.randn(2, 1, 64, 64, generator=gen), torch.randint(0, 3, (2, 64, 64), generator=gen))
    losses = {}
    for fused, trainer in trainers.items():
        losses[fused] = trainer.train_step({n: iter([data[n]]) for n in data})
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)
    for p, q in zip(trainers[False].model.parameters(), trainers[True].model.parameters()):
        torch.testing.assert_close(p, q, atol=2e-5, rtol=1e-4)


def test_the_arms_table_compares_each_run_with_the_control_on_the_sets_both_scored(tmp_path):
    from cellseg.training.compare import main

    def run(name, seg, held_out=()):
        (tmp_path / name).mkdir()
        last = {"step": 150, "held_out": list(held_out)}
        last.update({s: {"SEG": v, "DET": 0.0, "frames": 4} for s, v in seg.items()})
        (tmp_path / name / "val_last.json").write_text(json.dumps(last))
        return str(tmp_path / name)

    control = run("control", {"a": 0.5, "b": 0.7})
    arm = run("arm", {"a": 0.6, "b": 0.7})
    row = run("row", {"a": 0.2, "c": 0.9}, held_out=["a"])
    lines = main([control, arm, row]).splitlines()
    assert lines[0] == "| run | a | b | c | mean | vs control |"
    assert lines[2].endswith("| 0.600 | control |")
    assert lines[3] == "| arm | 0.600 | 0.700 |  | 0.650 | +0.050 |"
    assert lines[4] == "| row | 0.200* |  | 0.900 | 0.200 | -0.300 |"  # only set a is shared with the control
    with pytest.raises(SystemExit, match="no final validation"):
        main([control, str(tmp_path / "missing")])


def test_the_shipping_rule_needs_a_win_on_every_shared_set_and_over_the_baseline_on_new_ones():
    from cellseg.training.report import ship_verdict

    seg = lambda **kw: {k: {"SEG": v} for k, v in kw.items()}  # noqa: E731
    cand = seg(nuclei=0.95, phase=0.70, yeast=0.40)
    default = seg(nuclei=0.94, phase=0.30, yeast=0.00)  # never trained on yeast: its score there does not count
    base = seg(nuclei=0.50, phase=0.02, yeast=0.30)
    ships, rows = ship_verdict(cand, default, base, shared={"nuclei", "phase"})
    assert ships and len(rows) == 3 and "new set: beat the baseline: yes" in rows[2]
    # a far better mean does not buy a loss on one shared set (GOWT1 -0.015 kept v2's candidate out)
    ships, rows = ship_verdict(seg(nuclei=0.935, phase=0.70, yeast=0.40), default, base, {"nuclei", "phase"})
    assert not ships and "**no**" in rows[0] and "-0.005" in rows[0]
    # nor does a new set where the classical baseline does better
    assert not ship_verdict(seg(nuclei=0.95, phase=0.70, yeast=0.25), default, base, {"nuclei", "phase"})[0]
