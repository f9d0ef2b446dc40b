"""AlexNet, VGG11/13/16 and VGG11 with batch normalisation, defined here (same layer structure
as the classic definitions; ``vgg11_bn`` is torchvision's: BatchNorm2d between each convolution
and its ReLU).

Variants scale the channel counts and hidden units by ``width_mult`` and set ``num_classes``;
the resolution is free (>= 64 px) thanks to the adaptive pooling before the classifier.
``Flatten`` is a module (not a functional call) so that every leaf is visible to hooks.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from energypred.configs import ArchConfig
from energypred.errors import ConfigError

_VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
}


def _w(channels: int, width_mult: float) -> int:
    return max(8, int(round(channels * width_mult)))


def alexnet(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Sequential:
    """AlexNet (5 convolutions, 3 fully connected layers) as one flat ``nn.Sequential``."""
    c = [_w(x, width_mult) for x in (64, 192, 384, 256, 256)]
    hidden = _w(4096, width_mult)
    return nn.Sequential(
        nn.Conv2d(3, c[0], kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c[0], c[1], kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c[1], c[2], kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c[2], c[3], kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c[3], c[4], kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.AdaptiveAvgPool2d(6), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(c[4] * 36, hidden), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def _vgg(name: str, num_classes: int, width_mult: float, batch_norm: bool = False
         ) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG_CFGS[name]:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            cout = _w(int(v), width_mult)
            norm = [nn.BatchNorm2d(cout)] if batch_norm else []
            layers += [nn.Conv2d(cin, cout, kernel_size=3, padding=1), *norm,
                       nn.ReLU(inplace=True)]
            cin = cout
    hidden = _w(4096, width_mult)
    layers += [
        nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(cin * 49, hidden), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(hidden, num_classes),
    ]
    return nn.Sequential(*layers)


def vgg11(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Sequential:
    """VGG11 (configuration A)."""
    return _vgg("vgg11", num_classes, width_mult)


def vgg13(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Sequential:
    """VGG13 (configuration B)."""
    return _vgg("vgg13", num_classes, width_mult)


def vgg16(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Sequential:
    """VGG16 (configuration D)."""
    return _vgg("vgg16", num_classes, width_mult)


def vgg11_bn(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Sequential:
    """VGG11 with a BatchNorm2d after each convolution (torchvision's ``vgg11_bn``)."""
    return _vgg("vgg11", num_classes, width_mult, batch_norm=True)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "alexnet": alexnet, "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg11_bn": vgg11_bn,
}


def build(config: ArchConfig) -> nn.Module:
    """Build the network of an architecture variant (on the current default device)."""
    if config.architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {config.architecture!r}; "
                          f"use any of {','.join(ARCHITECTURES)}")
    return ARCHITECTURES[config.architecture](num_classes=config.num_classes,
                                              width_mult=config.width_mult)
