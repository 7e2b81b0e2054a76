"""Image-quality metrics from local files only: TOPIQ (pyiqa) and Fréchet distances (parser features, InceptionV3)."""

import numpy as np
import pytest
import scipy.linalg
import torch
from offline_helpers import forbid_network

from mdit.judges.embedded_parser import EmbeddedParser
from mdit.judges.weights import MissingWeightsError
from mdit.metrics.frechet import (
    INCEPTION_WEIGHTS_FILE,
    FrechetDistance,
    ParserFeatures,
    frechet_embedded,
    frechet_inception,
)
from mdit.metrics.topiq import TOPIQ_WEIGHTS_FILE, TopiqScore, load_topiq, topiq_weights_path

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    forbid_network(monkeypatch)


def _images(count: int, size: int = 32, seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return ((torch.rand(count, 3, size, size, generator=generator) * 2 - 1) * scale + shift).clamp(-1, 1)


# ---------------------------------------------------------------- TOPIQ


@pytest.fixture(scope="module")
def topiq_home(tmp_path_factory):
    """A TORCH_HOME holding a random-weights topiq_nr checkpoint in pyiqa's format ({"params": CFANet state})."""
    import pyiqa

    torch.manual_seed(0)
    net = pyiqa.create_metric("topiq_nr", device="cpu", pretrained=False, backbone_pretrain=False).net
    home = tmp_path_factory.mktemp("torch_home")
    topiq_weights_path(home).parent.mkdir(parents=True)
    torch.save({"params": net.state_dict()}, topiq_weights_path(home))
    return home


def test_topiq_loads_the_local_file_strictly_and_averages_scores(topiq_home):
    metric = load_topiq(topiq_home)  # pyiqa is imported already, with another cache folder: must not matter
    saved = torch.load(topiq_weights_path(topiq_home), weights_only=True)["params"]
    loaded = metric.model.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())  # every tensor came from the file
    first, second = _images(2, seed=1), _images(3, seed=2)
    metric.update(first)
    metric.update(second)
    score = metric.compute()
    assert torch.isfinite(score)
    with torch.no_grad():
        direct = metric.model((torch.cat([first, second]) + 1) / 2)  # what pyiqa scores on [0, 1] images
    assert score.item() == pytest.approx(direct.mean().item(), rel=1e-5, abs=1e-6)
    assert metric.per_sample().tolist() == pytest.approx(direct.flatten().tolist(), rel=1e-5, abs=1e-6)
    metric.train()
    assert not metric.model.net.training
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        metric.update(first[0])


def test_topiq_score_is_a_plain_running_mean():
    metric = TopiqScore(_MeanBrightness())
    with pytest.warns(UserWarning):  # torchmetrics warns on compute before update
        assert torch.isnan(metric.compute())  # nothing seen: n/a, not a score of 0
    assert metric.per_sample().numel() == 0
    metric.update(torch.full((2, 3, 8, 8), -1.0))  # scores 0, 0
    metric.update(torch.ones(1, 3, 8, 8))  # score 1
    assert metric.compute().item() == pytest.approx(1 / 3)
    metric.update(torch.stack([torch.ones(3, 8, 8), torch.zeros(3, 8, 8)]))  # scores 1, 0.5
    assert metric.per_sample().tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0, 0.5])  # one per image, in order
    assert metric.per_sample().mean().item() == pytest.approx(metric.compute().item())


class _MeanBrightness(torch.nn.Module):
    def forward(self, x):
        assert x.min() >= 0 and x.max() <= 1, "pyiqa metrics take [0, 1]"
        return x.mean((1, 2, 3))[:, None]


def test_topiq_rejects_a_wrong_checkpoint(tmp_path, topiq_home):
    saved = torch.load(topiq_weights_path(topiq_home), weights_only=True)["params"]
    topiq_weights_path(tmp_path).parent.mkdir(parents=True)
    torch.save(saved, topiq_weights_path(tmp_path))  # no "params" wrapper
    with pytest.raises(ValueError, match="not a topiq_nr checkpoint"):
        load_topiq(tmp_path)
    torch.save({"params": {k: v for k, v in saved.items() if "score_linear" not in k}}, topiq_weights_path(tmp_path))
    with pytest.raises(ValueError, match="score_linear"):
        load_topiq(tmp_path)


def test_topiq_missing_file_names_it_and_its_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match=rf"{TOPIQ_WEIGHTS_FILE} not found.*hub/pyiqa"):
        load_topiq(tmp_path)


# ---------------------------------------------------------------- Fréchet distances


def _frechet_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)) with unbiased covariances."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


class _ChannelMeans(torch.nn.Module):
    """A custom feature network: per-channel means and squared means (6 features); records its inputs."""

    num_features = 6

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x)
        return torch.cat([x.mean((2, 3)), x.square().mean((2, 3))], dim=1)


def test_frechet_distance_matches_the_formula_on_custom_features():
    features = _ChannelMeans()
    metric = FrechetDistance(feature=features)
    real, fake = _images(40, 8, seed=3), _images(30, 8, seed=4, scale=0.6, shift=0.2)
    metric.update(real[:25], real=True)
    metric.update(real[25:], real=True)
    metric.update(fake, real=False)
    assert features.seen[0].dtype == torch.float32 and features.seen[0].min() < 0  # [-1, 1] passed unchanged
    with torch.no_grad():
        expected = _frechet_reference(features(real).double().numpy(), features(fake).double().numpy())
    assert expected > 0.01
    assert metric.compute().item() == pytest.approx(expected, rel=1e-3)


def test_parser_features_shape_and_inputs():
    torch.manual_seed(0)
    parser = EmbeddedParser(8)
    features = ParserFeatures(parser)
    images = _images(3, 16)
    out = features(images)
    assert out.shape == (3, features.num_features) == (3, 40)
    as_bytes = ((images + 1) * 127.5).round().to(torch.uint8)  # what torchmetrics probes custom networks with
    assert torch.allclose(features(as_bytes), features(as_bytes.float() / 127.5 - 1))
    assert not torch.allclose(out[0], out[1])  # image-dependent
    flat = torch.tensor([[-0.5, 0.2, 0.9], [0.3, -0.1, 0.0]])[:, :, None, None]  # constant colours: resizing is exact
    with pytest.raises(ValueError, match="divisible by 4"):
        features(flat.expand(2, 3, 30, 30))
    resized = ParserFeatures(parser, size=16)  # any input size, brought to the parser's side
    assert torch.allclose(resized(flat.expand(2, 3, 30, 30)), features(flat.expand(2, 3, 16, 16)), atol=1e-5)
    assert not parser._forward_hooks  # the capture hooks are gone after each call


def _distance(metric: FrechetDistance, real: torch.Tensor, generated: torch.Tensor) -> float:
    """The metric's distance between two sets, from a fresh state."""
    metric.reset()
    metric.update(real, real=True)
    metric.update(generated, real=False)
    return metric.compute().item()


def test_parser_frechet_distance_is_zero_on_a_set_against_itself_and_grows_with_a_shift():
    torch.manual_seed(0)
    metric = frechet_embedded(EmbeddedParser(8))
    images = _images(64, 16, seed=5)
    same = _distance(metric, images, images)
    shifted = _distance(metric, images, _images(64, 16, seed=6, scale=0.5, shift=0.3))
    resampled = _distance(metric, images, _images(64, 16, seed=6))  # a fresh sample of the same distribution
    assert abs(same) < 1e-3 * shifted and shifted > 1.5 * resampled > 0
    assert metric.higher_is_better is False


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """torch-fidelity's InceptionV3 with random weights, saved the way its weights file is (a plain state dict)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with pytest.MonkeyPatch.context() as patch:  # build the architecture without its download and load
        patch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("fid") / INCEPTION_WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    return path


def test_inception_fid_loads_the_local_file_and_scores(inception_file):
    metric = frechet_inception(inception_file.parent)  # a folder holding the file, or the file itself
    assert metric.inception.use_antialias is False  # TF1-style resize: torch-fidelity / clean-fid numbers
    saved = torch.load(inception_file, weights_only=True)
    assert torch.equal(metric.inception.fc.weight, saved["fc.weight"])
    images = _images(3, 32, seed=7)
    same = _distance(metric, images, images)
    shifted = _distance(metric, images, _images(3, 32, seed=8, scale=0.3, shift=-0.5))
    assert np.isfinite(shifted) and shifted > 0 and abs(same) < 1e-3 * shifted
    assert isinstance(frechet_inception(inception_file), FrechetDistance)
    seen = []
    metric.inception.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    metric.update(torch.tensor([-1.0, 0.003, 0.5, 1.0]).view(1, 1, 2, 2).expand(2, 3, 2, 2), real=True)
    assert seen[0].dtype == torch.uint8 and seen[0][0, 0].flatten().tolist() == [0, 128, 191, 255]  # rounded


def test_inception_missing_file_names_it(tmp_path):
    with pytest.raises(MissingWeightsError, match=rf"{INCEPTION_WEIGHTS_FILE} not found"):
        frechet_inception(tmp_path)
