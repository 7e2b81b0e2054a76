"""Tests of the real judges run with the network forbidden: any download attempt fails the test."""

import socket

import pyiqa.utils.download_util
import torch
import torch_fidelity.feature_extractor_inceptionv3


def forbid_network(monkeypatch) -> None:
    """Sockets and every download function the judges' libraries use raise instead."""

    def refuse(*args, **kwargs):
        raise AssertionError("a judge or metric tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(pyiqa.utils.download_util, "download_url_to_file", refuse)
    monkeypatch.setattr(torch_fidelity.feature_extractor_inceptionv3, "load_state_dict_from_url", refuse)
