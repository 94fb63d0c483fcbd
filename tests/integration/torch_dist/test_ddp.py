"""Torch DDP with 2 gloo processes on this machine: disjoint data per rank, one step
equals a single-process step on the same global batch, validation mIoU from summed
confusion matrices equals the single-process mIoU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import segtrain.engines.lightning_engine as lightning_engine  # noqa: E402
from segtrain.data.source import open_split  # noqa: E402
from segtrain.data.transforms import build_transform  # noqa: E402
from segtrain.engines.lightning_engine.module import SegmentationModule  # noqa: E402
from segtrain.metrics import scores_from_confusion  # noqa: E402
from segtrain.runtime.artifacts import resolve_artifact  # noqa: E402
from segtrain.runtime.scaling import scaled_lr  # noqa: E402
from segtrain.tasks_common import resolve_config  # noqa: E402

SCRIPT = Path(__file__).with_name("ddp_one_step.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def overrides(data_dir: Path) -> list[str]:
    return [
        "trainer=data_parallel",
        "hardware.devices=2",
        "hardware.precision=32",
        "hardware.channels_last=false",
        "trainer.batch_size=2",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "model.freeze_bn=true",
        "model.optimizer=sgd",
        "model.momentum=0",
        "model.weight_decay=0",
        "model.scheduler=none",
        "model.lr=0.5",
        "augment=none",
        "logger=none",
        "dataset.num_workers=0",
        f"paths.data_dir={data_dir}",
        "dataset.synth.num_sequences=4",
        "dataset.synth.frames_per_sequence=5",
        "dataset.synth.height=64",
        "dataset.synth.width=96",
        "dataset.image_size=[64,96]",
        "seed=7",
    ]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("ddp")
    args = overrides(work / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={free_port()}",
            str(SCRIPT),
            str(work),
            json.dumps(args),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in (0, 1)]
    return work, args, ranks


def test_each_rank_sees_a_disjoint_half_of_the_global_batch(ddp_run):
    _, _, ranks = ddp_run
    # Lightning prefetches batches beyond the one step taken: the first batch loaded is
    # the one trained on; everything a rank ever loads must still be disjoint
    first0, first1 = ranks[0]["seen"][:2], ranks[1]["seen"][:2]
    assert len(set(first0)) == len(set(first1)) == 2
    assert not set(ranks[0]["seen"]) & set(ranks[1]["seen"])


def test_one_ddp_step_equals_one_single_process_step(ddp_run, compose_config):
    work, args, ranks = ddp_run
    cfg = resolve_config(compose_config("train", [*args, f"paths.output_dir={work}/ref"]))
    source = open_split(cfg.dataset, "train")
    by_id = {source[i].id: i for i in range(len(source))}
    transform = build_transform(cfg.augment, cfg.dataset.image_size, train=True)
    images, masks = [], []
    for sample_id in ranks[0]["seen"][:2] + ranks[1]["seen"][:2]:
        sample = source[by_id[sample_id]]
        image, mask = transform(sample.image, sample.mask)
        images.append(torch.from_numpy(image.transpose(2, 0, 1).copy()))
        masks.append(torch.from_numpy(mask))
    x, y = torch.stack(images), torch.stack(masks)
    assert (y != source.class_map.ignore_index).all(), "equal pixel counts per rank needed"

    import lightning as L

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    module = SegmentationModule(
        model_cfg=dict(cfg.model),
        num_classes=source.class_map.num_classes,
        ignore_index=source.class_map.ignore_index,
        class_names=list(source.class_map.names),
        lr=scaled_lr(cfg),
        max_epochs=1,
    )
    for m in module.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    initial = torch.load(work / "initial.pt", weights_only=True)
    for key, value in module.model.state_dict().items():
        torch.testing.assert_close(initial[key], value, msg=f"initial {key}")
    module.train()
    optimizer = torch.optim.SGD(module.parameters(), lr=scaled_lr(cfg))
    out = module.model(x)
    module.criterion(out["out"], y).backward()
    optimizer.step()

    ddp_state = torch.load(work / "run" / "model" / "model.pt", weights_only=True)
    reference = module.model.state_dict()
    moved = 0
    for key, value in reference.items():
        if value.is_floating_point():
            torch.testing.assert_close(ddp_state[key], value, rtol=1e-4, atol=1e-5, msg=key)
            moved += 1
    assert moved > 100


def test_validation_miou_equals_single_process_evaluation(ddp_run, compose_config):
    work, args, ranks = ddp_run
    cfg = resolve_config(compose_config("train", [*args, f"paths.output_dir={work}/ref"]))
    assert len(open_split(cfg.dataset, "val")) % 2 == 1, "odd split exercises uneven shards"
    artifact = resolve_artifact(work / "run" / "model")
    engine = lightning_engine.ENGINE
    model = engine.load(artifact, cfg)
    cfg.batch_size = 2
    confusion = engine.confusion_matrix(model, open_split(cfg.dataset, "val"), cfg)
    single = scores_from_confusion(confusion).mIoU
    assert ranks[0]["metrics"]["val_mIoU"] == pytest.approx(single, abs=1e-6)
    assert ranks[1]["metrics"]["val_mIoU"] == pytest.approx(single, abs=1e-6)
