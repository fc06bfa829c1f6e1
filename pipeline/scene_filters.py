"""The client-side scene filters (polarisations, orbit direction and number, platform), and
which of them left a search empty.

STAC APIs filter area and time; these properties are checked on the items
found, so when nothing is left the message can name the filter that removed
the scenes and what the scenes actually carry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pystac

if TYPE_CHECKING:
    from .search import SceneQuery


@dataclass(frozen=True)
class SceneFilter:
    """One filter: its name in words, the test, and what an item carries for it."""

    name: str
    passes: Callable[[pystac.Item], bool]
    carried: Callable[[pystac.Item], list[Any]]


def _polarizations(item: pystac.Item) -> list[Any]:
    return [str(p).upper() for p in item.properties.get("sar:polarizations", [])]


def scene_filters(query: SceneQuery) -> list[SceneFilter]:
    """The filters ``query`` sets (polarisations always)."""
    props = lambda item: item.properties  # noqa: E731
    wanted_pols = {p.upper() for p in query.polarizations}
    filters = [
        SceneFilter(
            f"polarisations {'+'.join(query.polarizations)}",
            lambda i: wanted_pols <= set(_polarizations(i)),
            _polarizations,
        )
    ]
    if query.orbit_state:
        filters.append(
            SceneFilter(
                f"{query.orbit_state} passes",
                lambda i: props(i).get("sat:orbit_state") == query.orbit_state,
                lambda i: [props(i).get("sat:orbit_state")],
            )
        )
    if query.relative_orbits:
        filters.append(
            SceneFilter(
                f"relative orbit(s) {list(query.relative_orbits)}",
                lambda i: props(i).get("sat:relative_orbit") in query.relative_orbits,
                lambda i: [props(i).get("sat:relative_orbit")],
            )
        )
    if query.platforms:
        platforms = {p.lower() for p in query.platforms}
        filters.append(
            SceneFilter(
                f"platform(s) {list(query.platforms)}",
                lambda i: str(props(i).get("platform", "")).lower() in platforms,
                lambda i: [str(props(i).get("platform", "")).lower()],
            )
        )
    return filters


def matches_properties(item: pystac.Item, query: SceneQuery) -> bool:
    """The client-side filters: polarisations, orbit state and number, platform."""
    return all(f.passes(item) for f in scene_filters(query))


def why_none_matched(found: Sequence[pystac.Item], query: SceneQuery) -> str:
    """Which filters removed ``found`` (none left), each with how many scenes it kept on its
    own and what the scenes carry, e.g. ``descending passes: 0 of 14 (present: ascending)``."""
    parts = []
    for scene_filter in scene_filters(query):
        kept = sum(scene_filter.passes(i) for i in found)
        if kept == len(found):
            continue
        present = sorted({str(v) for i in found for v in scene_filter.carried(i) if v is not None})
        parts.append(
            f"{scene_filter.name}: {kept} of {len(found)} (present: "
            f"{', '.join(present) or 'none declared'})"
        )
    if len(parts) > 1 and all(": 0 of" not in p for p in parts):
        parts.append("each filter keeps some scenes, but no scene passes all of them")
    return "; ".join(parts)
