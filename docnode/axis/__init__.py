"""The ``axis`` role (DESIGN §1, §7): docnode as an interconnection axis serving the VXP
protocol to registered client systems; store-and-forward with per-recipient copies."""

from __future__ import annotations
