"""A training run of the learned world model: the loop, resumable checkpoints and loss
curves. The recipe (batches, noise, loss, validation) is in
:mod:`simulation.dynamics.training`.

``run_dir`` holds ``checkpoint/`` (the model as ``config.json`` + ``model.safetensors``,
the optimiser's tensors in ``optimizer.safetensors``, the weight average in ``average/``
when ``average_decay`` is set, and ``trainer.json``: step, random state, history),
``history.json`` and ``loss.png``. Re-running with the same ``run_dir`` resumes from the
last checkpoint."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from simulation.dynamics.model import DynamicsConfig, DynamicsModel
from simulation.dynamics.training import Group, TrainConfig, fit_normalisers, rollout_loss, sample_batch, validate
from worldgen.io.atomic import replace_folder
from worldgen.io.optimizer_state import load_optimizer, save_optimizer


def save_checkpoint(folder: Path, model: DynamicsModel, optimizer, step: int, generator: torch.Generator,
                    history: list[dict], train_config: TrainConfig, average: AveragedModel | None = None) -> None:
    """Write the resumable state; the folder is replaced only once complete."""
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    doc = save_optimizer(optimizer, tmp / "optimizer.safetensors")
    if average is not None:
        average.module.save_pretrained(tmp / "average")
        doc.update(averaged=int(average.n_averaged))
    doc.update(step=step, generator=generator.get_state().tolist(), history=history,
               train=dataclasses.asdict(train_config))
    (tmp / "trainer.json").write_text(json.dumps(doc))
    replace_folder(tmp, folder)


def plot_history(history: list[dict], path: Path) -> None:
    """Loss curves: training loss, validation one-step loss and rollout errors vs step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [h for h in history if "loss" in h]
    valid = [h for h in history if "validation" in h]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if train:
        axes[0].plot([h["step"] for h in train], [h["loss"] for h in train], label="train (noisy inputs)")
    groups = sorted({g for h in valid for g in h["validation"]})
    for g in groups:
        steps = [h["step"] for h in valid]
        axes[0].plot(steps, [h["validation"][g]["one_step_loss"] for h in valid], "o-", label=f"validation {g}")
        for ax, key in ((axes[1], "translation_error"), (axes[2], "rotation_error")):
            values = [h["validation"][g][key] for h in valid]
            if all(v is not None for v in values):
                ax.plot(steps, values, "o-", label=g)
        lights = [h["validation"][g]["light_position_error"] for h in valid]
        if all(v is not None for v in lights):
            axes[1].plot(steps, lights, "x--", label=f"{g} lights")
    axes[0].set(yscale="log", xlabel="step", ylabel="normalised MSE", title="one-step loss")
    axes[1].set(yscale="log", xlabel="step", ylabel="m", title="rollout translation error (24 frames)")
    axes[2].set(yscale="log", xlabel="step", ylabel="rad", title="rollout rotation error (24 frames)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train(model_config: DynamicsConfig, config: TrainConfig, groups: list[Group], validation: list[Group],
          run_dir: str | Path, cpu: bool = False, progress: bool = True, until: int | None = None,
          init: DynamicsModel | None = None) -> DynamicsModel:
    """Train (or resume training) a model; returns it (unwrapped, on the CPU, eval mode;
    the weight average when ``config.average_decay`` is set).
    ``until``: stop at this step (checkpointed; the learning-rate schedule still spans
    ``config.steps``), so a run can be done in slices and resumed. ``init``: start from
    this trained model (its architecture and normalisation statistics; ``model_config`` is
    then unused) instead of a new one: fine-tuning, with a fresh optimiser and schedule."""
    from accelerate import Accelerator

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint"
    accelerator = Accelerator(cpu=cpu)
    generator = torch.Generator().manual_seed(config.seed + accelerator.process_index)
    history: list[dict] = []
    step = 0
    if (checkpoint / "trainer.json").is_file():
        model = DynamicsModel.from_pretrained(checkpoint).train()
        doc = json.loads((checkpoint / "trainer.json").read_text())
        step, history = doc["step"], doc["history"]
        generator.set_state(torch.tensor(doc["generator"], dtype=torch.uint8))
    elif init is not None:
        model, doc = init.train(), None
    else:
        torch.manual_seed(config.seed)
        model = DynamicsModel(model_config).train()
        fit_normalisers(model, groups, config, generator)
        doc = None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    if doc is not None:
        load_optimizer(optimizer, checkpoint / "optimizer.safetensors", doc)
    decay = (config.final_learning_rate / config.learning_rate) ** (1.0 / max(config.steps, 1))
    first = step
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: decay ** (s + first))
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    average = None
    if config.average_decay > 0:
        average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.average_decay))
        if doc is not None and "averaged" in doc:
            average.module.load_state_dict(DynamicsModel.from_pretrained(checkpoint / "average").state_dict())
            average.n_averaged.fill_(doc["averaged"])
    evaluated = model if average is None else average.module
    bar = tqdm(total=config.steps, initial=step, unit="step", desc="train dynamics", disable=not progress or not accelerator.is_main_process)
    running, started = [], time.perf_counter()
    stop = min(config.steps, until or config.steps)
    while step < stop:
        table, frames = sample_batch(groups, config.batch_size, config.rollout_steps, generator, config.augment)
        loss = rollout_loss(wrapped, model, table.to(device), frames.map(lambda x: x.to(device)), config, generator)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update_parameters(model)
        step += 1
        running.append(float(loss.detach()))
        bar.update(1)
        if step % config.log_every == 0 or step == stop:
            history.append({"step": step, "loss": sum(running) / len(running), "lr": scheduler.get_last_lr()[0],
                            "seconds": time.perf_counter() - started})
            bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
            running = []
        last = step == stop
        if validation and (step % config.validate_every == 0 or last) and accelerator.is_main_process:
            evaluated.eval()
            history.append({"step": step, "validation": validate(evaluated, validation, config)})
            evaluated.train()
            bar.write(f"step {step}: " + "; ".join(
                f"{g}: loss {v['one_step_loss']:.4f}, translation {v['translation_error'] or 0:.4f} m, "
                f"rotation {v['rotation_error'] or 0:.3f} rad" for g, v in history[-1]["validation"].items()))
        if (step % config.checkpoint_every == 0 or last) and accelerator.is_main_process:
            save_checkpoint(checkpoint, model, optimizer, step, generator, history, config, average)
            (run_dir / "history.json").write_text(json.dumps(history, indent=1))
            plot_history(history, run_dir / "loss.png")
    bar.close()
    return evaluated.cpu().eval()
