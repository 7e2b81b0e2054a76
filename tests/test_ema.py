"""The EMA of the trainable weights against its equation, and its swap, copy and checkpoint form."""

import torch

from mdit.ema import EMA


def _params(*values: float) -> dict[str, torch.nn.Parameter]:
    return {f"w{i}": torch.nn.Parameter(torch.full((2, 3), v)) for i, v in enumerate(values)}


def test_update_is_the_warmed_up_average() -> None:
    """shadow <- d_s shadow + (1 - d_s) w with d_s = min(decay, (1 + s) / (10 + s)) (diffusers' EMAModel)."""
    params = _params(1.0, -2.0)
    ema = EMA(0.9, params)
    expected = {n: p.detach().clone() for n, p in params.items()}
    for step, target in ((0, 3.0), (5, 5.0), (1000, -1.0)):
        with torch.no_grad():
            for p in params.values():
                p.fill_(target)
        ema.update(params, step)
        d = min(0.9, (1 + step) / (10 + step))
        expected = {n: d * v + (1 - d) * target for n, v in expected.items()}
        for name, value in expected.items():
            torch.testing.assert_close(ema.shadow[name], value, rtol=0, atol=1e-6)


def test_swap_copy_and_whole() -> None:
    params = _params(1.0)
    ema = EMA(0.5, params)
    with torch.no_grad():
        params["w0"].fill_(4.0)
    with ema.swapped_in(lambda: params):
        assert torch.equal(params["w0"], torch.ones(2, 3))  # the average in place of the weights ...
    assert torch.equal(params["w0"], torch.full((2, 3), 4.0))  # ... and the weights back after
    whole = ema.whole()
    assert torch.equal(whole["w0"], torch.ones(2, 3)) and ema.whole(keep=False) == {}
    other = EMA(0.5, params)
    other.place(params, whole)  # a checkpoint's whole tensors laid out like the weights
    ema.copy_to(params)
    assert torch.equal(params["w0"], other.shadow["w0"])
