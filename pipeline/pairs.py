"""Interferometric pairs: which acquisitions of a cube to compare.

Pairs never cross relative orbits or orbit directions: coherence only means
something between passes with the same viewing geometry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pystac
import xarray as xr

from .errors import PairingError
from .scene_items import item_time, pass_key

Policy = Literal["fixed", "nearest", "all"]
PAIR_COLUMNS = [
    "pair_id",
    "reference_index",
    "secondary_index",
    "reference_time",
    "secondary_time",
    "temporal_baseline_days",
    "relative_orbit",
    "orbit_state",
    "reference_platform",
    "secondary_platform",
]


def acquisitions(cube: xr.DataArray) -> pd.DataFrame:
    """One row per time step: time, relative_orbit, orbit_state, platform."""
    return pd.DataFrame(
        {
            "time": pd.to_datetime(cube["time"].values),
            "relative_orbit": cube["relative_orbit"].values,
            "orbit_state": cube["orbit_state"].values,
            "platform": cube["platform"].values,
        }
    )


def acquisitions_of(scenes: Sequence[pystac.Item]) -> pd.DataFrame:
    """The acquisitions table of STAC scenes, one row per pass (slices merged as in a cube)."""
    first: dict[tuple[object, ...], pd.Timestamp] = {}
    for item in scenes:
        when = pd.Timestamp(item_time(item).replace(tzinfo=None))
        key = pass_key(item)
        first[key] = min(first.get(key, when), when)
    return acquisitions_table(first)


def acquisitions_table(first: dict[tuple[Any, ...], pd.Timestamp]) -> pd.DataFrame:
    """The acquisitions table of passes: ``{pass_key: time of its first slice}``."""
    table = pd.DataFrame(
        [
            {"time": when, "relative_orbit": k[0], "orbit_state": k[1], "platform": k[2]}
            for k, when in first.items()
        ]
    )
    return table.sort_values("time").reset_index(drop=True)


def select_pairs(
    cube: xr.DataArray | pd.DataFrame,
    baselines_days: Sequence[float] = (12.0,),
    *,
    tolerance_days: float = 1.0,
    policy: Policy = "fixed",
    max_baseline_days: float | None = None,
) -> pd.DataFrame:
    """Pair acquisitions of the same relative orbit and orbit direction.

    Args:
        cube: a cube from ``build_cube`` or its ``acquisitions`` table.
        baselines_days: wanted temporal baselines (policy ``fixed``).
        tolerance_days: how far a baseline may differ from a wanted one.
        policy: ``fixed`` (the baselines above), ``nearest`` (each acquisition
            with its nearest predecessor), ``all`` (every pair up to
            ``max_baseline_days``).
        max_baseline_days: upper limit on any baseline (required for ``all``).

    Returns:
        Pair table sorted by secondary time, then baseline; columns ``PAIR_COLUMNS``.
    """
    table = acquisitions(cube) if isinstance(cube, xr.DataArray) else cube.reset_index(drop=True)
    if policy == "all" and max_baseline_days is None:
        raise PairingError("policy 'all' needs max_baseline_days (e.g. 48)")
    if policy not in ("fixed", "nearest", "all"):
        raise PairingError(f"unknown pair policy {policy!r}; use fixed, nearest or all")
    if policy == "fixed" and not baselines_days:
        raise PairingError("policy 'fixed' needs at least one baseline in baselines_days")
    # Times are sorted within a track, so a pair beyond the longest wanted baseline ends
    # the inner loop; rows are read from plain records, not per-pair pandas lookups (a
    # continental plan pairs thousands of tiles).
    longest = math.inf if max_baseline_days is None else max_baseline_days + tolerance_days
    if policy == "fixed":
        longest = min(longest, max(baselines_days) + tolerance_days)
    records = table.to_dict("records")
    rows = []
    for (orbit, state), track in table.groupby(["relative_orbit", "orbit_state"], sort=False):
        track = track.sort_values("time")
        index = track.index.to_numpy()
        seconds = (track["time"].to_numpy() - np.datetime64(0, "s")) / np.timedelta64(1, "s")
        for a in range(len(track)):
            for b in range(a + 1, len(track)):
                days = float(seconds[b] - seconds[a]) / 86400
                if days > longest:
                    break
                if policy == "fixed" and not any(
                    abs(days - want) <= tolerance_days for want in baselines_days
                ):
                    continue
                rows.append(_row(records, int(index[a]), int(index[b]), days, orbit, state))
                if policy == "nearest":
                    break
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    return pairs.sort_values(["secondary_time", "temporal_baseline_days"]).reset_index(drop=True)


def _row(
    records: list[dict[Any, Any]], a: int, b: int, days: float, orbit: object, state: object
) -> list[object]:
    ref, sec = records[a], records[b]
    pair_id = f"{ref['time']:%Y%m%dT%H%M%S}_{sec['time']:%Y%m%dT%H%M%S}_{orbit}"
    return [
        pair_id,
        a,
        b,
        ref["time"],
        sec["time"],
        round(days, 3),
        orbit,
        state,
        ref["platform"],
        sec["platform"],
    ]


def _track_name(orbit: object, state: object) -> str:
    return f"relative orbit {orbit} {state}"


def explain_no_pairs(
    table: pd.DataFrame, baselines_days: Sequence[float], policy: str = "fixed"
) -> PairingError:
    """Why an acquisitions table gives no pair: the tracks and how many passes each has.

    Returned (not raised) so callers decide whether "no pair" is an error.
    """
    tracks = table.groupby(["relative_orbit", "orbit_state"], sort=True).size()
    listing = ", ".join(
        f"{_track_name(*track)}: {count} pass(es)"
        for track, count in zip(tracks.index.tolist(), tracks.tolist(), strict=True)
    )
    wanted = f"baselines {list(baselines_days)} d" if policy == "fixed" else f"policy {policy}"
    mixed = (
        "; pairs never cross relative orbits or orbit directions (different viewing "
        "geometries): search one track (--relative-orbit, --orbit-state) over a longer time"
        if len(tracks) > 1
        else "; search a longer time range"
    )
    return PairingError(
        f"no pair with {wanted} among {len(table)} acquisition(s) on {len(tracks)} track(s) "
        f"({listing}){mixed}"
    )


def check_same_track(acquisitions_table: pd.DataFrame, pairs: pd.DataFrame) -> None:
    """Refuse pairs whose two acquisitions differ in relative orbit or orbit direction.

    Args:
        acquisitions_table: the cube's ``acquisitions`` (one row per time step).
        pairs: a pair table (``reference_index``/``secondary_index`` into the time steps).

    Raises:
        PairingError: naming the first cross-track pair and both tracks.
    """
    tracks = list(
        zip(
            acquisitions_table["relative_orbit"].tolist(),
            acquisitions_table["orbit_state"].tolist(),
            strict=True,
        )
    )
    for pair_id, ref, sec in zip(
        pairs["pair_id"].tolist(),
        pairs["reference_index"].tolist(),
        pairs["secondary_index"].tolist(),
        strict=True,
    ):
        if tracks[ref] != tracks[sec]:
            raise PairingError(
                f"pair {pair_id}: the reference lies on {_track_name(*tracks[ref])}, the "
                f"secondary on {_track_name(*tracks[sec])}; coherence needs two passes of the "
                "same track (select_pairs only makes such pairs)"
            )
