"""The real face parser (facexlib BiSeNet) from local files: label remap, protocol, strict loading, missing file."""

import pytest
import torch
from facexlib.parsing.bisenet import BiSeNet
from offline_helpers import forbid_network

from mdit.judges.bisenet import (
    BISENET_TO_OFFICIAL,
    BISENET_WEIGHTS_FILE,
    BiSeNetParser,
    load_bisenet_parser,
    remap_bisenet,
)
from mdit.judges.clip import load_clip_judge
from mdit.judges.weights import MissingWeightsError, require_file
from mdit.labels import LABELS

# face-parsing.PyTorch's class order (index = BiSeNet id), as its README and facexlib's users list it.
BISENET_NAMES = (
    "background",
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "eye_g",
    "l_ear",
    "r_ear",
    "ear_r",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
    "neck",
    "neck_l",
    "cloth",
    "hair",
    "hat",
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    forbid_network(monkeypatch)


@pytest.fixture(scope="module")
def bisenet_state():
    torch.manual_seed(0)
    return BiSeNet(num_class=19).state_dict()


def test_the_table_maps_each_bisenet_class_to_the_official_id_of_the_same_name():
    assert BISENET_TO_OFFICIAL == (0, 1, 6, 7, 4, 5, 3, 8, 9, 15, 2, 10, 11, 12, 17, 16, 18, 13, 14)
    assert sorted(BISENET_TO_OFFICIAL) == list(range(19))  # a permutation: no two classes merge
    assert [LABELS[official] for official in BISENET_TO_OFFICIAL] == list(BISENET_NAMES)
    assert LABELS[BISENET_TO_OFFICIAL[2]] == "l_brow" and BISENET_TO_OFFICIAL[10] == LABELS.index("nose")


def test_remap_works_on_batches_on_any_shape():
    bisenet = torch.arange(19).repeat(2, 3, 1)  # [2, 3, 19]
    official = remap_bisenet(bisenet)
    assert official.shape == bisenet.shape and official.dtype == torch.int64
    assert official[1, 2].tolist() == list(BISENET_TO_OFFICIAL)
    assert remap_bisenet(torch.tensor([17, 2], dtype=torch.uint8)).tolist() == [13, 6]  # hair, l_brow


class _HalvesBiSeNet(torch.nn.Module):
    """A fake BiSeNet: BiSeNet class `left` on the left half, `right` on the right; records its input."""

    def __init__(self, left: int, right: int) -> None:
        super().__init__()
        self.left, self.right, self.seen = left, right, None

    def forward(self, x):
        self.seen = x
        logits = torch.zeros(x.shape[0], 19, *x.shape[-2:])
        logits[:, self.left, :, : x.shape[-1] // 2] = 1
        logits[:, self.right, :, x.shape[-1] // 2 :] = 1
        return logits, logits, logits


def test_parser_protocol_resizes_normalises_remaps_and_returns_input_size():
    fake = _HalvesBiSeNet(left=10, right=2)  # BiSeNet nose | l_brow
    parser = BiSeNetParser(fake)
    labels = parser(torch.zeros(2, 3, 32, 48))  # grey images
    assert labels.shape == (2, 32, 48) and labels.dtype == torch.int64
    assert (labels[:, :, :24] == LABELS.index("nose")).all() and (labels[:, :, 24:] == LABELS.index("l_brow")).all()
    assert fake.seen.shape == (2, 3, 512, 512)
    expected = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])  # ImageNet mean/std
    assert torch.allclose(fake.seen[0, :, 100, 100], expected, atol=1e-5)
    parser.train()
    assert not parser.training and not fake.training


def test_random_weights_load_from_a_folder_or_the_file_and_parse(tmp_path, bisenet_state):
    torch.set_num_threads(1)
    torch.save(bisenet_state, tmp_path / BISENET_WEIGHTS_FILE)
    parser = load_bisenet_parser(tmp_path)
    assert not parser.training
    assert torch.equal(parser.model.conv_out.conv_out.weight, bisenet_state["conv_out.conv_out.weight"])
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    labels = parser(images)
    assert labels.shape == (1, 32, 32) and labels.dtype == torch.int64
    assert set(labels.unique().tolist()) <= set(range(19))
    assert torch.equal(load_bisenet_parser(tmp_path / BISENET_WEIGHTS_FILE)(images), labels)


def test_a_wrong_state_dict_fails_loudly(tmp_path, bisenet_state):
    torch.save(BiSeNet(num_class=18).state_dict(), tmp_path / BISENET_WEIGHTS_FILE)  # right keys, wrong shapes
    with pytest.raises(ValueError, match="not a state dict of facexlib's BiSeNet"):
        load_bisenet_parser(tmp_path)
    missing_one = {k: v for k, v in bisenet_state.items() if not k.startswith("conv_out32")}
    torch.save(missing_one, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="conv_out32"):
        load_bisenet_parser(tmp_path / "partial.pth")


def test_a_missing_file_says_which_file_and_where_it_goes(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"parsing_bisenet\.pth not found.*judges\.parser"):
        load_bisenet_parser(tmp_path)
    with pytest.raises(MissingWeightsError, match=r"79999_iter\.pth not found"):
        load_bisenet_parser(tmp_path / "79999_iter.pth")
    with pytest.raises(FileNotFoundError):  # MissingWeightsError is a FileNotFoundError
        require_file(tmp_path / "nothing.bin", "purpose")
    (tmp_path / "here.bin").write_bytes(b"")
    assert require_file(tmp_path / "here.bin", "purpose") == tmp_path / "here.bin"
    with pytest.raises(MissingWeightsError, match="open_clip_config.json"):
        load_clip_judge(tmp_path)
