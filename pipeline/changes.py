"""Change analytics on a coherence cube and its backscatter: events per pixel, against its history.

For every pixel, each *interval* between two consecutive acquisitions of a
track (relative orbit and direction) gets a combined score from the evidence
``change_evidence`` computes, each a robust z-score against the pixel's own
history: coherence loss ``S_c`` (from the pairs bracketing the interval) and,
when the backscatter the cube was made from is given, the VV and VH step ``z_vv``,
``z_vh`` (level after minus level before, dB)::

    score = sqrt(max(S_c, 0)^2 + z_vv^2 + z_vh^2)

An interval whose score reaches ``z_threshold`` is flagged. False-alarm
control: under no change each term is close to a unit normal, so the score
follows a chi distribution with up to three degrees of freedom and a threshold
of 5 leaves about 1e-5 per interval and pixel for independent Gaussian terms;
real series have heavier tails (date-to-date jitter shared by a field's
pixels, spreads estimated from ~10 dates), which is why the default sits
there: the false-alarm rate per pixel it gives on the sample, over the whole
series, is measured and recorded in docs/accuracy.md beside the operating
curve for other thresholds.

Consecutive flagged intervals form one event unless the backscatter step
changes sign (a flood's onset darkens, its recession brightens: two events).
Per event: its span (``event_start``/``event_end``: the acquisitions
bracketing its flagged intervals, where the change surely lies), its peak
(``event_peak_start``/``event_peak_end``: the highest-scoring interval, the
best single guess), and at the peak a kind hint (darkening / brightening /
decorrelation), the score, the coherence drop and the VV/VH steps in dB, and
which evidence fired (a term of at least ``evidence_z``, or the largest term).

``history="all"`` judges every date by the pixel's whole series (archive
analysis); ``history="past"`` only by what came before it (monitoring: the
coherence history is the earlier pairs, the backscatter level after an
interval is the new date alone and its spread is estimated from past dates).
"""

from __future__ import annotations

from typing import Literal

import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from cohcube.model.errors import InputDataError

from .change_detection import (
    EVENT_FIELDS,
    EVIDENCE_BITS,
    KIND_CODES,
    DetectionSettings,
    TrackTimes,
    detect_block,
)

History = Literal["all", "past"]
#: Backscatter bands used as evidence, in order.
EVIDENCE_BANDS = ("VV", "VH")
#: Acquisition times of the coherence cube and of the backscatter match within this.
TIME_TOLERANCE = np.timedelta64(60, "s")


def pair_series(cube: xr.Dataset, tolerance_days: float = 1.0) -> list[np.ndarray]:
    """Indices of the cube's pairs grouped by orbit, direction and baseline, in time order."""
    return [s for series, _ in _tracks(cube, tolerance_days) for s in series]


def _pair_table(cube: xr.Dataset, tolerance_days: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "orbit": cube["relative_orbit"].values,
            "state": [str(v) for v in cube["orbit_state"].values],
            "baseline": np.round(cube["temporal_baseline"].values / max(tolerance_days, 1e-6)),
            "time": cube["secondary_time"].values,
        }
    )


def _tracks(cube: xr.Dataset, tolerance_days: float) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """Per track: its pair series and its acquisition times (datetime64[s], ascending)."""
    table = _pair_table(cube, tolerance_days)
    starts = cube["reference_time"].values.astype("datetime64[s]")
    ends = cube["secondary_time"].values.astype("datetime64[s]")
    tracks = []
    for _, group in table.groupby(["orbit", "state"], sort=True):
        series = [sub.sort_values("time").index.to_numpy() for _, sub in group.groupby("baseline")]
        times = np.unique(np.concatenate([starts[group.index], ends[group.index]]))
        tracks.append((series, times))
    return tracks


def _backscatter_dates(
    backscatter: xr.DataArray, tracks: list[tuple[list[np.ndarray], np.ndarray]]
) -> tuple[list[np.ndarray], list[int]]:
    """Per track, the backscatter time index of each acquisition; and the band indices."""
    bands = [str(b).upper() for b in backscatter["band"].values]
    missing = [b for b in EVIDENCE_BANDS if b not in bands]
    if missing:
        raise InputDataError(
            f"the backscatter has bands {bands} but change analytics needs {list(EVIDENCE_BANDS)}; "
            "give the cube the coherence was computed from (build_cube with vv and vh)"
        )
    times = backscatter["time"].values.astype("datetime64[s]")
    indices = []
    for _, wanted in tracks:
        gaps = np.abs(times[None, :] - wanted[:, None])
        nearest = gaps.argmin(axis=1)
        absent = wanted[gaps[np.arange(len(wanted)), nearest] > TIME_TOLERANCE]
        if len(absent):
            raise InputDataError(
                f"the backscatter has no acquisition at {[str(t) for t in absent[:3]]} "
                "(times of the coherence cube's pairs); give the cube the coherence was "
                "computed from, covering the same dates"
            )
        indices.append(nearest)
    return indices, [bands.index(b) for b in EVIDENCE_BANDS]


def _same_grid(backscatter: xr.DataArray, cube: xr.Dataset) -> bool:
    """Whether the backscatter's pixels are the cube's (same x/y centres to 1 % of a pixel)."""
    for axis in ("x", "y"):
        ours, theirs = cube[axis].values, backscatter[axis].values
        if ours.shape != theirs.shape:
            return False
        step = abs(float(ours[1] - ours[0])) if len(ours) > 1 else 1.0
        if not np.allclose(ours, theirs, rtol=0.0, atol=0.01 * step):
            return False
    return True


def _wide_enough(chunks: tuple[int, ...], halo: int) -> tuple[int, ...]:
    """``chunks`` with every chunk narrower than ``halo`` merged into its neighbour."""
    merged: list[int] = []
    for size in chunks:
        if merged and (size < halo or merged[-1] < halo):
            merged[-1] += size
        else:
            merged.append(size)
    return tuple(merged)


def detect_changes(
    cube: xr.Dataset,
    backscatter: xr.DataArray | None = None,
    *,
    history: History = "all",
    min_history: int = 3,
    smooth_px: int = 5,
    pool_px: int = 15,
    window: int = 4,
    z_threshold: float = 5.0,
    evidence_z: float = 3.0,
    min_spread: float = 0.03,
    min_spread_db: float = 0.3,
    max_events: int = 4,
    tolerance_days: float = 1.0,
) -> xr.Dataset:
    """Change events of every pixel of a coherence cube (lazy), with backscatter evidence if given.

    Args:
        cube: coherence cube (``open_coherence_cube`` / ``predict_coherence``)
            with ``coherence`` on ``(pair, y, x)``.
        backscatter: the ``(time, band, y, x)`` linear backscatter the coherence was
            computed from (``build_cube``, VV and VH, same grid), covering every
            acquisition of the pairs; None: coherence loss is the only evidence.
        history: ``"all"`` dates of the series or only ``"past"`` ones.
        min_history: fewest other pairs a pair's coherence is judged against.
        smooth_px: side of the averaging window in pixels (1 = none).
        pool_px: side of the neighbourhood the spreads are pooled over.
        window: dates averaged on each side of an interval for the backscatter step.
        z_threshold: combined score that flags an interval.
        evidence_z: score of one kind of evidence that counts as "fired".
        min_spread: floor on the coherence spread (coherence units).
        min_spread_db: floor on the backscatter date-to-date spread (dB).
        max_events: events kept per pixel (the earliest).
        tolerance_days: baselines are rounded to multiples of this to form series.

    Returns:
        Dataset on ``(y, x)``: ``change`` (bool, any event), ``change_count``; and on
        ``(event, y, x)``, earliest first: ``event_start``/``event_end`` and
        ``event_peak_start``/``event_peak_end`` (datetime64, NaT without event),
        ``event_kind`` (``KIND_CODES``), ``event_evidence`` (bits of
        ``EVIDENCE_BITS``), ``event_score``, ``event_coherence_drop``,
        ``event_vv_db``, ``event_vh_db``; CRS kept.
    """
    if "coherence" not in cube:
        raise InputDataError("detect_changes needs a cube with a 'coherence' variable")
    if history not in ("all", "past"):
        raise InputDataError(f"history {history!r}: use 'all' or 'past'")
    tracks = _tracks(cube, tolerance_days)
    if not any(len(s) > min_history for series, _ in tracks for s in series):
        raise InputDataError(
            f"no series of pairs (same orbit and baseline) has more than {min_history} pairs; "
            "change detection needs a history -- process more acquisitions first"
        )
    coherence = cube["coherence"].data
    if not isinstance(coherence, da.Array):
        coherence = da.from_array(coherence, chunks=(-1, 1024, 1024))
    coherence = coherence.rechunk({0: -1})
    planes = [coherence.astype(np.float32)]
    date_index: list[np.ndarray | None] = [None] * len(tracks)
    if backscatter is not None:
        if not _same_grid(backscatter, cube):
            raise InputDataError(
                f"backscatter grid {dict(backscatter.sizes)} differs from the coherence cube's "
                f"{dict(cube.sizes)} (shape or x/y coordinates); give the cube the coherence "
                "was computed from"
            )
        indices, band_index = _backscatter_dates(backscatter, tracks)
        used = np.unique(np.concatenate(indices))
        date_index = [np.searchsorted(used, i) for i in indices]
        data = backscatter.data
        if not isinstance(data, da.Array):
            data = da.from_array(data, chunks=(1, 1, *coherence.chunks[1:]))
        data = data[used][:, band_index].astype(np.float32)
        # (dates, bands, y, x) flattened behind the pairs: one array, one overlap.
        planes.append(data.reshape((-1, *data.shape[2:])))
    halo = smooth_px // 2 + pool_px // 2
    spatial = tuple(_wide_enough(c, halo) for c in coherence.chunks[1:])
    stacked = da.concatenate(planes, axis=0).rechunk((-1, *spatial))
    track_times = [
        TrackTimes(track_series, times.astype(np.float64), dates)
        for (track_series, times), dates in zip(tracks, date_index, strict=True)
    ]
    starts = cube["reference_time"].values.astype("datetime64[s]").astype(np.float64)
    ends = cube["secondary_time"].values.astype("datetime64[s]").astype(np.float64)
    layers = 1 + max_events * len(EVENT_FIELDS)
    result = da.map_overlap(
        detect_block,
        stacked,
        depth={0: 0, 1: halo, 2: halo},
        boundary="none",
        trim=False,
        allow_rechunk=False,
        dtype=np.float64,
        chunks=((layers,), *stacked.chunks[1:]),
        meta=np.empty((0, 0, 0), dtype=np.float64),
        n_pairs=coherence.shape[0],
        n_bands=len(EVIDENCE_BANDS) if backscatter is not None else 0,
        tracks=track_times,
        starts=starts,
        ends=ends,
        halo=halo,
        settings=DetectionSettings(
            past_only=history == "past",
            min_history=min_history,
            smooth_px=smooth_px,
            pool_px=pool_px,
            window=window,
            z_threshold=z_threshold,
            evidence_z=evidence_z,
            min_spread=min_spread,
            min_spread_db=min_spread_db,
            max_events=max_events,
        ),
    )
    out = _change_layers(cube, result, max_events)
    out.attrs = {
        "method": "combined robust z-score per interval: coherence loss"
        + (" and VV/VH backscatter step" if backscatter is not None else " only"),
        "evidence": "coherence, backscatter" if backscatter is not None else "coherence",
        "history": history,
        "min_history": min_history,
        "smooth_px": smooth_px,
        "pool_px": pool_px,
        "window": window,
        "z_threshold": z_threshold,
        "evidence_z": evidence_z,
        "min_spread": min_spread,
        "min_spread_db": min_spread_db,
        "event_kinds": ", ".join(f"{code}={name}" for name, code in KIND_CODES.items()),
        "evidence_bits": ", ".join(f"{bit}={name}" for name, bit in EVIDENCE_BITS.items()),
        "pairs": ",".join(str(p) for p in cube["pair"].values),
    }
    if cube.rio.crs is not None:
        out = out.rio.write_crs(cube.rio.crs)
    return out


_ATTRS = {
    "event_score": ("combined robust z-score of the event's interval", "1"),
    "event_coherence_drop": ("coherence drop below the pixel's median at the event", "1"),
    "event_vv_db": ("VV backscatter step at the event (after minus before)", "dB"),
    "event_vh_db": ("VH backscatter step at the event (after minus before)", "dB"),
}


def _change_layers(cube: xr.Dataset, result: da.Array, max_events: int) -> xr.Dataset:
    """The ``detect_block`` layers as a dataset on ``(y, x)`` and ``(event, y, x)``."""
    out = xr.Dataset(coords={"event": np.arange(max_events), "y": cube["y"], "x": cube["x"]})
    count = result[0]
    out["change"] = (("y", "x"), count > 0)
    out["change_count"] = (("y", "x"), count.astype(np.uint8))
    fields = result[1:].reshape((max_events, len(EVENT_FIELDS), *result.shape[1:]))
    for k, name in enumerate(EVENT_FIELDS):
        values = fields[:, k]
        if name in ("start", "end", "peak_start", "peak_end"):
            seconds = da.where(da.isfinite(values), values, 0).astype(np.int64)
            times = seconds.astype("datetime64[s]").astype("datetime64[ns]")
            nat = np.datetime64("NaT", "ns")
            out[f"event_{name}"] = (("event", "y", "x"), da.where(da.isfinite(values), times, nat))
        elif name in ("kind", "evidence"):
            out[f"event_{name}"] = (("event", "y", "x"), da.nan_to_num(values).astype(np.uint8))
        else:
            out[f"event_{name}"] = (("event", "y", "x"), values.astype(np.float32))
    for name, (long_name, units) in _ATTRS.items():
        out[name].attrs = {"long_name": long_name, "units": units}
    out["event_kind"].attrs = {
        "long_name": "kind hint of the event",
        "flag_values": list(KIND_CODES.values()),
        "flag_meanings": " ".join(KIND_CODES),
    }
    out["event_evidence"].attrs = {
        "long_name": "evidence that fired (bit mask)",
        "flag_masks": list(EVIDENCE_BITS.values()),
        "flag_meanings": " ".join(EVIDENCE_BITS),
    }
    return out
