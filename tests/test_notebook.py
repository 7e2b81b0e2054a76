"""notebooks/compare_runs.ipynb runs top to bottom on tiny handmade runs; the offline W&B history reader."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image
from test_results_table import write_run, write_sweep

from mdit.results.history import local_history, records

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "compare_runs.ipynb"


def log_offline_history(folder: Path, losses: list[float]) -> None:
    """An offline W&B run in `folder` with train/loss per step and one val/loss, as Lightning's logger writes them."""
    import wandb

    run = wandb.init(
        mode="offline",
        dir=str(folder),
        project="test",
        id=f"t-{folder.name}",
        settings=wandb.Settings(console="off", silent=True),
    )
    for step, loss in enumerate(losses):
        run.log({"train/loss": loss, "trainer/global_step": step * 10})
    run.log({"val/loss": min(losses), "trainer/global_step": 10 * len(losses)})
    run.finish()
    deadline = time.monotonic() + 20  # W&B's service writes the file after finish() returns
    while not local_history(folder)["val/loss"] and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 variants x 2 seeds; grids for every run, an eval grid for seed 0, W&B history for one run."""
    root = tmp_path_factory.mktemp("nb")
    group = root / "runs" / "ablation_attention"
    for attention in ("holistic", "improved_decoupled"):
        for seed in (0, 1):
            folder = write_run(group, attention, seed)
            (folder / "samples").mkdir()
            Image.new("RGB", (48, 40), (200, 20 * seed, 0)).save(folder / "samples" / "step_000010.png")
            if seed == 0:
                (folder / "eval").mkdir()
                Image.new("RGB", (48, 64), (0, 90, 200)).save(folder / "eval" / "both.png")
    log_offline_history(group / "holistic-s0", [0.5, 0.4, 0.3, 0.25])
    write_sweep(root)
    return group


def test_offline_history_is_read(group: Path) -> None:
    curves = local_history(group / "holistic-s0")
    assert curves["train/loss"] == [(0, 0.5), (10, 0.4), (20, 0.3), (30, 0.25)]
    assert curves["val/loss"] == [(40, 0.25)]
    assert local_history(group / "holistic-s1") == {"train/loss": [], "val/loss": []}


def test_damaged_history_keeps_what_came_before(group: Path, tmp_path: Path) -> None:
    source = next((group / "holistic-s0").glob("wandb/offline-run-*/run-*.wandb"))
    whole = list(records(source))
    damaged = tmp_path / "run-x.wandb"
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: its chunk's CRC fails there
    damaged.write_bytes(bytes(data))
    assert 0 < len(list(records(damaged))) < len(whole)
    damaged.write_bytes(b"not a W&B file")
    assert list(records(damaged)) == []


def test_notebook_runs_top_to_bottom(group: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("MDIT_RUNS_GROUP", str(group))
    monkeypatch.setenv("MDIT_SWEEP_FILE", str(group.parent.parent / "sweeps" / "ablation_attention.yaml"))
    monkeypatch.delenv("MDIT_WANDB_SWEEP", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "2 settings (swept: model.attention)" in text
    assert "| holistic | 2 | 61.00 ± 1.41 |" in text  # the table of `mdit table`
    assert "no history: holistic-s1, improved_decoupled-s0, improved_decoupled-s1" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # metrics per setting, learning curves, sample grids
