"""Bad inputs of a model or data the library did not make (docs/bad_inputs.md): one line naming the problem,
exit status 2, no traceback, nothing trained or written."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError

from ..conftest import user_model_folders
from .conftest import CONFIGS, cli_in_process, error_lines, run_dir_args, tiny_args

CL = str(CONFIGS / "pretrain" / "cl.yaml")
BACKBONE = "--model.init_args.backbone"

# name -> (extra fit arguments (a callable of the work folder gives them), text the line must hold)
FIT_CASES: dict[str, tuple[object, str]] = {
    "backbone import path that does not import": ([BACKBONE, "nowhere_at_all:net"],
                                                  "backbone: cannot import 'nowhere_at_all'"),
    "backbone import path that is not callable": ([BACKBONE, "user_models:NOT_CALLABLE"], "is not callable"),
    "backbone callable that returns no nn.Module": ([BACKBONE, "user_models:not_a_module"], "not an nn.Module"),
    "backbone whose output is not [N, D]": ([BACKBONE, "user_models:feature_maps"], "not [N, D] features"),
    "backbone_args the callable does not take": ([BACKBONE, "user_models:small_encoder",
                                                  "--model.init_args.backbone_args", '{"depth": 3}'],
                                                 "backbone_args: 'user_models:small_encoder' does not take"),
    "backbone_width on a foreign backbone": ([BACKBONE, "torchvision:resnet18", "--model.init_args.backbone_width",
                                              "16"], "backbone_width applies to resnet18"),
    "backbone_args on a registered backbone": (["--model.init_args.backbone_args", '{"depth": 3}'],
                                               "backbone_args apply to"),
    "dual_bn on a backbone without BatchNorm": ([BACKBONE, "user_models:fixed_size_encoder", "--model.init_args.dual_bn",
                                                 "true"], "has no BatchNorm2d layer"),
    "unknown torchvision model": ([BACKBONE, "torchvision:resnet_18"], "torchvision has no model 'resnet_18'"),
    "backbone whose forward fails at the data's image size": (
        lambda d: [BACKBONE, "user_models:fixed_size_encoder", *image_folder_64(d)],
        "fails on the data's images (3x64x64)"),
}


def image_folder_64(folder: Path) -> list[str]:
    root = write_synthetic_cifar(str(folder / "images"), "cifar10", 1, 1, "image_folder", image_size=64)
    return ["--data.class_path", "cl_robust.data.ImageFolderDataModule", "--data.init_args.root", f"{root}/cifar10",
            "--data.init_args.image_size", "64"]


@pytest.mark.parametrize("case", list(FIT_CASES))
def test_bad_backbone_gives_one_line(case: str, synthetic_root: str, tmp_path: Path, user_models: str,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    extra, expected = FIT_CASES[case]
    monkeypatch.chdir(tmp_path)
    extra_args = extra(tmp_path) if callable(extra) else extra
    code, err = cli_in_process(["fit", "--config", CL, *tiny_args(synthetic_root), *run_dir_args(tmp_path / "run"),
                                *extra_args], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and expected in lines[0], err[-3000:]
    assert "Traceback" not in err and not list((tmp_path / "run").rglob("*.ckpt"))


def test_timm_backbone_without_timm_says_how_to_install_it(synthetic_root: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(__import__("sys").modules, "timm", None)  # import timm raises ImportError
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process(["fit", "--config", CL, *tiny_args(synthetic_root), *run_dir_args(tmp_path / "run"),
                                BACKBONE, "timm:resnet18"], capsys)
    assert code == 2 and "pip install 'cl_robust[timm]'" in error_lines(err)[0]


@pytest.mark.parametrize(("images", "needle"), [
    (torch.rand(8, 3, 32, 32) * 255, "float images must lie in [0, 1]"),
    (torch.rand(8, 3, 32, 24), "square images [B, C, S, S]"),
])
def test_batches_outside_the_input_contract_are_refused(images: torch.Tensor, needle: str) -> None:
    import lightning as L

    from cl_robust.methods import SupervisedLearning

    loader = DataLoader(TensorDataset(images, torch.arange(8) % 10), batch_size=8)
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        trainer.fit(SupervisedLearning(backbone="resnet_tiny"), loader)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A checkpoint trained at 64 pixels, the user model's weights, weights of another model, a file of no weights."""
    import sys

    import lightning as L

    from cl_robust.methods import SupervisedLearning

    folder = tmp_path_factory.mktemp("own_model_files")
    model = SupervisedLearning(backbone="resnet_tiny")
    model.image_size = 64
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(folder / "at64.ckpt")
    folders = user_model_folders()
    sys.path[:0] = folders
    try:
        import user_models

        torch.save(user_models.small_classifier().state_dict(), folder / "theirs.pt")
        torch.save({"model": user_models.small_classifier(width=4).state_dict()}, folder / "narrow.pt")
    finally:
        del sys.path[:len(folders)]
    torch.save({"epoch": 3, "notes": "no tensors"}, folder / "nothing.pt")
    return {name: str(folder / name) for name in ("at64.ckpt", "theirs.pt", "narrow.pt", "nothing.pt")}


MODEL = ["--model", "user_models:small_classifier"]

# name -> (command, arguments (a callable of the files gives them), text the line must hold)
COMMAND_CASES: dict[str, tuple[str, object, str]] = {
    "--model and --checkpoint together": ("evaluate", lambda f: [*MODEL, "--checkpoint", f["at64.ckpt"]],
                                          "--checkpoint and --model name two models"),
    "neither --checkpoint nor --model": ("evaluate", [], "give --checkpoint"),
    "--weights without --model": ("analyze", lambda f: ["--checkpoint", f["at64.ckpt"], "--weights", f["theirs.pt"]],
                                  "--weights applies to --model"),
    "weights that do not fit the architecture": ("evaluate", lambda f: [*MODEL, "--weights", f["narrow.pt"]],
                                                 "does not fit 'user_models:small_classifier': shapes differ"),
    "weights of another architecture (keys)": ("evaluate", lambda f: ["--model", "user_models:small_encoder",
                                                                      "--weights", f["theirs.pt"]],
                                               "missing 12 ('0.weight', '1.weight', '1.bias' and 9 more); unexpected 14"),
    "weights file without a state dict": ("evaluate", lambda f: [*MODEL, "--weights", f["nothing.pt"]],
                                          "holds no state dict"),
    "logits of another class count": ("evaluate", [*MODEL, "--model_args", '{"num_classes": 7}'],
                                      "returns [2, 7] for 2 images but the data has 10 classes"),
    "model whose forward fails at the data's image size": ("evaluate", ["--model", "user_models:fixed_size_classifier"],
                                                           "fails on the data's images (3x32x32)"),
    "--model_args that is not a mapping": ("evaluate", [*MODEL, "--model_args", "[1, 2]"],
                                           "model_args must be a mapping"),
    "model import path that does not import": ("analyze", ["--model", "nowhere_at_all:net"],
                                               "model: cannot import 'nowhere_at_all'"),
    "layer pattern that matches nothing": ("analyze", [*MODEL, "--layers", "block*,layer*.?"],
                                           "the pattern 'layer*.?' matches no module of the SmallClassifier model"),
    "checkpoint trained on images of another size": ("evaluate", lambda f: ["--checkpoint", f["at64.ckpt"]],
                                                     "was trained on 64x64 images but the data's are 32x32"),
    "--data.image_size for CIFAR": ("evaluate", [*MODEL, "--data.image_size", "64"],
                                    "--data.image_size applies to --data.dataset image_folder"),
    "image folder without a root": ("evaluate", [*MODEL, "--data.dataset", "image_folder"],
                                    "needs --data.root"),
    "mean without std": ("evaluate", [*MODEL, "--normalize", "--data.mean", "0.5", "0.5", "0.5"],
                         "give both mean and std"),
    "--compare and --compare_model together": ("analyze", lambda f: [*MODEL, "--compare", f["at64.ckpt"],
                                                                     "--compare_model", "user_models:small_classifier"],
                                               "--compare and --compare_model name two models"),
}


@pytest.mark.parametrize("case", list(COMMAND_CASES))
def test_bad_model_source_gives_one_line(case: str, files: dict[str, str], synthetic_root: str, tmp_path: Path,
                                         user_models: str, capsys: pytest.CaptureFixture[str]) -> None:
    command, extra, expected = COMMAND_CASES[case]
    extra_args = extra(files) if callable(extra) else extra
    root = [] if "image_folder" in extra_args else ["--data.root", synthetic_root]
    probes = ["--probe_train_per_class", "2"] if command == "analyze" else []
    code, err = cli_in_process([command, *root, "--device", "cpu", "--batch_size", "4", "--output",
                                str(tmp_path / "out"), *probes, *extra_args], capsys)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and expected in lines[0], err[-3000:]
    assert "Traceback" not in err and not any((tmp_path / "out").glob("*.json"))
