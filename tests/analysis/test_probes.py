"""Per-layer linear probes: pooling, fitting, and ranking informative over noise layers."""
import torch
from torch import nn

from cl_robust.analysis.probes import (
    fit_linear_probe,
    layer_probes,
    pool_features,
    probe_accuracies,
    probe_curves,
)


def test_pooling_averages_conv_maps_and_flattens_the_rest() -> None:
    maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    assert torch.equal(pool_features(maps), maps.mean(dim=(2, 3)))
    assert pool_features(torch.ones(2, 3, 4)).shape == (2, 12)


def test_the_informative_layer_probes_better_than_the_noise_layer() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (200,), generator=generator)
    centres = 3 * torch.randn(4, 16, generator=generator)
    informative = centres[labels] + torch.randn(200, 16, generator=generator)
    noise = torch.randn(200, 16, generator=generator)
    train, test = slice(0, 120), slice(120, 200)
    results = probe_accuracies([informative[train], noise[train]], labels[train],
                               {"clean": [informative[test], noise[test]]}, labels[test], num_classes=4)
    assert results[0]["clean"] > 0.9
    assert results[1]["clean"] < 0.5 < results[0]["clean"]


def test_a_probe_separates_linearly_separable_data_exactly() -> None:
    features = torch.tensor([[-2.0, 0.0], [-1.0, 1.0], [1.0, 0.0], [2.0, -1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert fit_linear_probe(features, labels, num_classes=2).accuracy(features, labels) == 1.0


def test_layer_probes_report_every_layer_with_clean_and_adversarial_accuracy() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()
    images, labels = torch.rand(24, 3, 8, 8), torch.arange(24) % 3
    results = layer_probes(model, ["0", "3"], images[:16], labels[:16], images[16:], labels[16:], num_classes=3,
                           adversarial_test_images=images[16:].flip(0), batch_size=5)
    assert [r["layer"] for r in results] == ["0", "3"]
    assert all(0.0 <= r[key] <= 1.0 for r in results for key in ("train", "clean", "adversarial"))


def test_the_adversarial_probe_curve_names_its_attack() -> None:
    probes = {"adversarial": "eps=8/255", "layers": [{"layer": "a", "clean": 0.5, "adversarial": 0.2},
                                                      {"layer": "b", "clean": 0.6, "adversarial": 0.1}]}
    assert probe_curves(probes, attack_steps=10) == {"clean": [0.5, 0.6], "adversarial (PGD-10, eps=8/255)": [0.2, 0.1]}
    clean_only = {"adversarial": None, "layers": [{"layer": "a", "clean": 0.5}]}
    assert probe_curves(clean_only, attack_steps=10) == {"clean": [0.5]}
