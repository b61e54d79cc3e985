"""Training the video diffusion renderer (``worldgen train renderer``).

The config is ``configs/train/renderer.yaml``; ``model=NAME`` picks a preset from
``configs/train/renderer_models/`` (tiny, small, base) and any field can be overridden in
Hydra syntax afterwards (``model.width=96 train.steps=2000 data=[DIR, ...]``).

``run_dir`` holds ``checkpoint/`` (resumable: ``model/`` and ``ema/`` as
``save_pretrained`` folders, ``optimizer.safetensors`` and ``trainer.json`` with the step,
the random state and the history), ``history.json``, ``loss.png`` and ``validation/``
(per validation: ``step_NNNNNN.mp4``, reference above and painted below, and
``step_NNNNNN.png``, a contact sheet). Re-running with the same ``run_dir`` resumes. The
final moving average of the weights goes to ``output`` as a renderer folder
(:mod:`renderer.diffusion.pipeline`) with ``training.json``."""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from worldgen.pipelines.training_config import training_config
from worldgen.scene import SceneError
from worldgen.scene.loading import CONFIG_DIR

CONFIG = CONFIG_DIR / "train" / "renderer.yaml"
PRESETS = CONFIG_DIR / "train" / "renderer_models"
STAGES = ("joint", "base", "control")


@dataclass
class ModelSettings:
    """The ``model:`` block: the training resolution and the denoiser's architecture."""

    size: int = 64  # training resolution, pixels (square)
    patch_size: int = 4
    width: int = 128
    depth: int = 6
    heads: int = 4
    control_blocks: int = 2
    temporal: bool = True
    pixel_head: int = 0  # hidden channels of the control branch's full-resolution head; 0 = none
    pixel_head_state: bool = False  # the head reads each frame's mean state token (lights, colours)


@dataclass
class TrainSettings:
    """The ``train:`` block."""

    steps: int = 6000
    minutes: float | None = None  # stop (checkpointed) after this much training time; the schedule spans `steps`
    until: int | None = None  # stop (checkpointed) at this step; the schedule spans `steps` (runs in slices)
    batch_size: int = 1
    clip_length: int = 16
    learning_rate: float = 3e-4
    final_learning_rate: float = 3e-5
    warmup: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    objective: str = "diffusion"  # diffusion | regression (the deterministic baseline)
    stage: str = "joint"  # joint | base (no control branch) | control (branch only, base frozen; needs init)
    group_dropout: float = 0.15
    all_dropout: float = 0.1
    warped_noise: float = 0.0  # chance a clip's noise is warped along its flow (generate --noise warped)
    temporal_loss: float = 0.0  # weight of the temporal loss on the predicted clean clip (0: off)
    timesteps: list[int] | None = None  # [low, high): train a noise-level expert on those timesteps (None: all)
    seed: int = 0
    log_every: int = 25
    validate_every: int = 500
    checkpoint_every: int = 250
    validation_clips: int = 2  # per validation folder
    validation_steps: int = 4  # sampling steps of the validation clips


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def load_config(overrides: list[str]) -> dict[str, Any]:
    """The training config: ``model=NAME`` first picks a preset, then the other overrides
    apply; checked against :class:`ModelSettings` and :class:`TrainSettings`."""
    from renderer.diffusion.sampling import NUM_TRAIN_TIMESTEPS
    from renderer.diffusion.training import OBJECTIVES

    cfg = OmegaConf.load(CONFIG)
    chosen = [o for o in overrides if o.startswith("model=")]
    name = chosen[-1].split("=", 1)[1] if chosen else str(cfg.model)
    if name not in presets():
        raise SceneError("model", f"expected one of {', '.join(presets())}, got {name!r}", "command line")
    cfg.model = OmegaConf.load(PRESETS / f"{name}.yaml")
    config = training_config(cfg, [o for o in overrides if not o.startswith("model=")],
                             {"model": ModelSettings, "train": TrainSettings}, CONFIG)
    config["preset"] = name
    train, model = config["train"], config["model"]
    if train["objective"] not in OBJECTIVES:
        raise SceneError("train.objective", f"expected one of {', '.join(OBJECTIVES)}, got {train['objective']!r}",
                         "command line")
    if train["stage"] not in STAGES:
        raise SceneError("train.stage", f"expected one of {', '.join(STAGES)}, got {train['stage']!r}", "command line")
    if train["stage"] == "control" and not config.get("init"):
        raise SceneError("init", "train.stage=control trains the branch of a trained base: give init=RENDERER_DIR",
                         "command line")
    if model["size"] % model["patch_size"]:
        raise SceneError("model.size", f"expected a multiple of model.patch_size={model['patch_size']}, got "
                         f"{model['size']}", "command line")
    for key in ("steps", "batch_size", "clip_length", "log_every", "validate_every", "checkpoint_every"):
        if train[key] < 1:
            raise SceneError(f"train.{key}", f"expected a whole number >= 1, got {train[key]}", "command line")
    for key in ("group_dropout", "all_dropout", "warped_noise"):
        if not 0 <= train[key] <= 1:
            raise SceneError(f"train.{key}", f"expected a chance from 0 to 1, got {train[key]}", "command line")
    span = train["timesteps"]
    if span is not None and not (len(span) == 2 and 0 <= span[0] < span[1] <= NUM_TRAIN_TIMESTEPS):
        raise SceneError("train.timesteps", f"expected [low, high) with 0 <= low < high <= {NUM_TRAIN_TIMESTEPS}, "
                         f"got {span}", "command line")
    if not 0 <= train["temporal_loss"] <= 100:
        raise SceneError("train.temporal_loss", f"expected a weight from 0 to 100, got {train['temporal_loss']}",
                         "command line")
    return config


def build_model(model: dict, token_features: int):
    """A new denoiser of the ``model:`` block for tokens of ``token_features`` features,
    reading the renderer stack (:mod:`worldgen.pipelines.renderer_inputs`)."""
    from renderer.diffusion.model import VideoDenoiser
    from worldgen.pipelines.renderer_inputs import RENDERER_CHANNELS, RENDERER_GROUPS

    return VideoDenoiser(patch_size=model["patch_size"], width=model["width"], depth=model["depth"],
                         heads=model["heads"], control_blocks=model["control_blocks"], token_features=token_features,
                         control_channels=list(RENDERER_CHANNELS),
                         control_groups={g: list(c) for g, c in RENDERER_GROUPS.items()}, temporal=model["temporal"],
                         pixel_head=model["pixel_head"], pixel_head_state=model["pixel_head_state"])


def initial_model(init: str | Path, pixel_head: int = 0, pixel_head_state: bool = False, temporal: bool = True):
    """The denoiser of the renderer folder ``init`` to train on, with its weights and
    architecture, and what it lacks added so that it paints exactly as ``init`` did until
    trained: control groups of the renderer stack (a renderer trained before the material
    maps or the shading) with a zero input projection and zero weights into the pixel
    head, a pixel head of ``pixel_head`` hidden channels (its
    last convolution zero) when it has none, and the head's reading of the state tokens
    (a zero FiLM) when ``pixel_head_state`` asks for it. ``temporal=False`` drops the
    temporal blocks of a temporal ``init`` (the per-frame variant of the same weights)."""
    from renderer.diffusion.model import VideoDenoiser
    from renderer.diffusion.pipeline import VideoRenderer
    from worldgen.pipelines.renderer_inputs import RENDERER_CHANNELS, RENDERER_GROUPS

    try:
        trained = VideoRenderer.from_pretrained(init).model
    except ValueError as err:
        raise SceneError("init", str(err), "command line") from None
    groups = {g: list(c) for g, c in trained.config.control_groups.items()}
    added = [g for g in RENDERER_GROUPS if g not in groups]
    unknown = [c for c in trained.config.control_channels if c not in RENDERER_CHANNELS]
    if unknown:
        raise SceneError("init", f"{init}: the renderer reads control channels {', '.join(unknown)}, which worldgen "
                         "does not make", "command line")
    head = trained.config.pixel_head or pixel_head
    state = trained.config.pixel_head_state or (pixel_head_state and head > 0)
    temporal = trained.config.temporal and temporal
    if (not added and head == trained.config.pixel_head and state == trained.config.pixel_head_state
            and temporal == trained.config.temporal):
        return trained
    groups.update({g: list(RENDERER_GROUPS[g]) for g in added})
    model = VideoDenoiser.from_config(trained.config, control_channels=list(RENDERER_CHANNELS), control_groups=groups,
                                      pixel_head=head, pixel_head_state=state, temporal=temporal)
    weights = trained.state_dict()
    head_input = "control.pixel.net.0.weight"  # reads the groups' channels in order, then 6 image channels
    if head_input in weights and added:
        old, grown = weights[head_input], torch.zeros_like(model.state_dict()[head_input])
        grown[:, :old.shape[1] - 6], grown[:, -6:] = old[:, :-6], old[:, -6:]
        weights[head_input] = grown
    if not temporal:
        weights = {k: v for k, v in weights.items() if k in model.state_dict()}  # the temporal blocks go
    missing, unexpected = model.load_state_dict(weights, strict=False)
    new = [k for k in missing if not k.startswith("control.pixel.") and k.split(".")[2] not in added]
    assert not unexpected and not new, (new, unexpected)
    for group in added:
        torch.nn.init.zeros_(model.control.project[group].weight)
        torch.nn.init.zeros_(model.control.project[group].bias)
    return model


def run_training(config: dict, progress: bool = True) -> Path:
    """Train as ``config`` says (resuming from ``run_dir`` when it holds a checkpoint);
    returns the output renderer folder."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from diffusers.training_utils import EMAModel
    from tqdm import tqdm

    from renderer.diffusion.pipeline import VideoRenderer
    from renderer.diffusion.sampling import make_scheduler
    from renderer.diffusion.training import RecipeConfig, renderer_loss
    from worldgen.io.optimizer_state import load_optimizer, save_optimizer
    from worldgen.pipelines.renderer_data import load_episodes, random_batch
    from worldgen.pipelines.state_tokens import TOKEN_FEATURES

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    settings, train = config["model"], TrainSettings(**config["train"])
    started = time.perf_counter()
    episodes = [e for root in config["data"] for e in load_episodes(root, settings["size"], config.get("episodes"))]
    validation = [e for root in config["validation"] for e in load_episodes(root, settings["size"],
                                                                              train.validation_clips, "validation")]
    loaded = time.perf_counter() - started
    shortest = min(len(e.rgb) for e in episodes + validation)
    if shortest < train.clip_length:
        raise SceneError("train.clip_length", f"{train.clip_length} frames, but an episode has only {shortest}",
                         "command line")
    slots = max(e.tokens.shape[1] for e in episodes + validation)

    run_dir = Path(config["run_dir"])
    checkpoint = run_dir / "checkpoint"
    run_dir.mkdir(parents=True, exist_ok=True)
    # A step that drops every control leaves the branch without gradient: DDP must allow it.
    accelerator = Accelerator(cpu=config["device"] == "cpu",
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    generator = torch.Generator().manual_seed(train.seed + accelerator.process_index)
    scheduler = make_scheduler()
    history: list[dict] = []
    step, doc = 0, None
    if (checkpoint / "trainer.json").is_file():
        from renderer.diffusion.model import VideoDenoiser

        model = VideoDenoiser.from_pretrained(checkpoint / "model")
        doc = json.loads((checkpoint / "trainer.json").read_text())
        step, history = doc["step"], doc["history"]
        generator.set_state(torch.tensor(doc["generator"], dtype=torch.uint8))
    elif config.get("init"):
        model = initial_model(config["init"], settings["pixel_head"], settings["pixel_head_state"], settings["temporal"])
    else:
        torch.manual_seed(train.seed)
        model = build_model(settings, len(TOKEN_FEATURES))
    model.train()
    trained = _trainable(model, train.stage)
    optimizer = torch.optim.AdamW(trained, lr=train.learning_rate, weight_decay=train.weight_decay)
    if doc is not None:
        load_optimizer(optimizer, checkpoint / "optimizer.safetensors", doc["optimizer"])
    ema = EMAModel(model.parameters(), decay=train.ema_decay)
    if doc is not None:
        from renderer.diffusion.model import VideoDenoiser

        ema = EMAModel(VideoDenoiser.from_pretrained(checkpoint / "ema").parameters(), decay=train.ema_decay)
        ema.optimization_step = doc["ema_step"]
    first = step
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _learning_rate_factor(s + first, train))
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    recipe = RecipeConfig(train.objective, train.group_dropout, train.all_dropout, train.warped_noise,
                          train.temporal_loss, tuple(train.timesteps) if train.timesteps else None)

    bar = tqdm(total=train.steps, initial=step, unit="step", desc="train renderer",
               disable=not progress or not accelerator.is_main_process)
    running, clock = [], time.perf_counter()
    spent = doc["seconds"] if doc else 0.0
    stop = min(train.steps, train.until or train.steps)
    while step < stop:
        batch = random_batch(episodes, train.batch_size, train.clip_length, slots, generator)
        loss = renderer_loss(wrapped, scheduler, {k: v.to(device) for k, v in batch.items()}, recipe, generator,
                             controls=train.stage != "base")
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        schedule.step()
        ema.step(model.parameters())
        step += 1
        running.append(float(loss.detach()))
        bar.update(1)
        seconds = spent + time.perf_counter() - clock
        out_of_time = train.minutes is not None and seconds >= 60 * train.minutes
        last = step == stop or out_of_time
        if step % train.log_every == 0 or last:
            history.append({"step": step, "loss": sum(running) / len(running), "lr": schedule.get_last_lr()[0],
                            "seconds": seconds})
            bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
            running = []
        if validation and (step % train.validate_every == 0 or last) and accelerator.is_main_process:
            record = _validate(_ema_copy(model, ema), scheduler, validation, train, slots, run_dir / "validation", step)
            history.append({"step": step, "validation": record})
            bar.write(f"step {step}: validation PSNR {record['psnr_db']:.2f} dB ({record['sampling_steps']} steps)")
        if (step % train.checkpoint_every == 0 or last) and accelerator.is_main_process:
            _save_checkpoint(checkpoint, model, _ema_copy(model, ema), ema, optimizer, step, generator, history,
                             seconds, save_optimizer)
            (run_dir / "history.json").write_text(json.dumps(history, indent=1))
            _plot_history(history, run_dir / "loss.png")
        if out_of_time:
            break
    bar.close()

    output = Path(config["output"])
    renderer = VideoRenderer(_ema_copy(model, ema).eval(), scheduler, sample_size=settings["size"],
                             clip_length=train.clip_length, token_features=list(TOKEN_FEATURES),
                             objective=train.objective)
    renderer.save_pretrained(output)
    last_validation = next((h["validation"] for h in reversed(history) if "validation" in h), None)
    record = {
        "config": config, "step": step, "episodes": len(episodes), "validation_episodes": len(validation),
        "parameters": sum(p.numel() for p in model.parameters()), "seconds_loading": loaded,
        "seconds_training": next((h["seconds"] for h in reversed(history) if "seconds" in h), None),
        "device": str(device) if device.type != "cpu" else
        f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "last_validation": last_validation,
    }
    (output / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return output


def _trainable(model, stage: str) -> list[torch.nn.Parameter]:
    """The parameters a stage trains (the rest is frozen): joint every one, base all but
    the control branch, control the branch only."""
    branch = {id(p) for p in model.control.parameters()}
    for p in model.parameters():
        p.requires_grad_(stage == "joint" or (id(p) in branch) == (stage == "control"))
    return [p for p in model.parameters() if p.requires_grad]


def _learning_rate_factor(step: int, train: TrainSettings) -> float:
    """Linear warm-up, then exponential decay to final_learning_rate at the last step."""
    if step < train.warmup:
        return (step + 1) / train.warmup
    fraction = (step - train.warmup) / max(train.steps - train.warmup, 1)
    return (train.final_learning_rate / train.learning_rate) ** min(fraction, 1.0)


def _ema_copy(model, ema):
    """A copy of ``model`` holding the moving average of its weights."""
    import copy

    averaged = copy.deepcopy(model)
    ema.copy_to(averaged.parameters())
    return averaged


def _save_checkpoint(folder: Path, model, averaged, ema, optimizer, step: int, generator: torch.Generator,
                     history: list[dict], seconds: float, save_optimizer) -> None:
    """The resumable state; the folder is replaced only once complete."""
    from worldgen.io.atomic import replace_folder

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp / "model")
    averaged.save_pretrained(tmp / "ema")
    doc = {"step": step, "generator": generator.get_state().tolist(), "history": history, "seconds": seconds,
           "ema_step": ema.optimization_step, "optimizer": save_optimizer(optimizer, tmp / "optimizer.safetensors")}
    (tmp / "trainer.json").write_text(json.dumps(doc))
    replace_folder(tmp, folder)


def _validate(model, scheduler, episodes, train: TrainSettings, slots: int, folder: Path, step: int) -> dict:
    """Paint the first ``clip_length`` frames of each validation episode (seeded); PSNR
    against the reference, and the clips as an mp4 and a contact sheet."""
    from renderer.diffusion.sampling import paint
    from worldgen.io.contact_sheet import contact_sheet, pick_frames
    from worldgen.io.video import write_video
    from worldgen.metrics import psnr
    from worldgen.pipelines.renderer_data import clip_batch

    model.eval()
    steps = 1 if train.objective == "regression" else train.validation_steps
    scores, rows = [], []
    for index in range(len(episodes)):
        batch = clip_batch(episodes, [index], [0], train.clip_length, slots)
        generator = torch.Generator().manual_seed(index)
        painted = paint(model, scheduler, batch["tokens"], batch["token_mask"], batch["controls"], None, steps,
                        generator, noise=_noise_for(batch, train, generator))[0]
        reference = (batch["rgb"][0] + 1) / 2
        scores.append(float(psnr(painted.numpy(), reference.numpy()).mean()))
        rows.append(torch.cat([reference, painted], dim=2))  # reference above, painted below
    folder.mkdir(parents=True, exist_ok=True)
    clips = torch.cat(rows, dim=3).clamp(0, 1).numpy()  # episodes side by side
    write_video(folder / f"step_{step:06d}.mp4", clips, 12)
    chosen = pick_frames(len(clips), 4)
    contact_sheet({"reference (top) | painted (bottom)": clips}, chosen, folder / f"step_{step:06d}.png",
                  title=f"step {step}: validation episodes side by side")
    return {"psnr_db": sum(scores) / len(scores), "per_episode_psnr_db": scores, "sampling_steps": steps}


def _noise_for(batch, train: TrainSettings, generator: torch.Generator):
    """The starting sample: Gaussian noise for diffusion, zeros for the regression baseline."""
    shape = batch["rgb"].shape
    return torch.zeros(shape) if train.objective == "regression" else torch.randn(shape, generator=generator)


def _plot_history(history: list[dict], path: Path) -> None:
    """Training loss and validation PSNR against the step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.5))
    FigureCanvasAgg(figure)
    loss_axes, psnr_axes = figure.subplots(1, 2)
    train = [h for h in history if "loss" in h]
    valid = [h for h in history if "validation" in h]
    loss_axes.plot([h["step"] for h in train], [h["loss"] for h in train])
    loss_axes.set(yscale="log", xlabel="step", ylabel="x0 MSE ([-1, 1] units)", title="training loss")
    psnr_axes.plot([h["step"] for h in valid], [h["validation"]["psnr_db"] for h in valid], "o-")
    psnr_axes.set(xlabel="step", ylabel="dB", title="validation PSNR")
    for axes in (loss_axes, psnr_axes):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)

