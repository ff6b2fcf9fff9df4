"""The axis server applies the receive path's freshness rule too (DESIGN §7): a signed packet
whose sender timestamp is outside the window is refused at sendEdoc, and nothing is relayed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from docnode import errors
from tests.docnode.axis_kit import A_ORGAN, running_axis

from .crafting import Kit

if TYPE_CHECKING:
    from tests.conftest import Pki


@pytest.mark.parametrize("offset", [timedelta(days=-8), timedelta(hours=1)],
                         ids=["stale", "future"])
async def test_axis_refuses_packets_outside_the_freshness_window(
    pki: Pki, kit: Kit, tmp_path: Path, offset: timedelta
) -> None:
    packet = kit.signed(kit.edoc(stamp=kit.at + offset))
    async with running_axis(pki, tmp_path) as axis:
        with pytest.raises(errors.PeerError) as refused:
            await axis.client("sys.a").send_edoc(packet, from_=A_ORGAN)
        assert refused.value.detail.get("axis_code") == "stale_packet"
        assert await axis.client("sys.b").count_receive_edoc() == 0
        # a fresh packet still goes through
        await axis.client("sys.a").send_edoc(kit.signed(), from_=A_ORGAN)
        assert await axis.client("sys.b").count_receive_edoc() == 1
