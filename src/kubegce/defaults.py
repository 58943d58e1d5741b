"""Defaults that more than one area uses: the image and machine types a cluster gets when its spec
names none (spec defaults, the spec models, the demo, the emulator)."""

from __future__ import annotations

DEFAULT_IMAGE = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
DEFAULT_NODE_MACHINE_TYPE = "e2-medium"
DEFAULT_CONTROL_PLANE_MACHINE_TYPE = "e2-standard-2"
