"""Link instance labels across frames into Cell Tracking Challenge tracks.

Frame to frame, objects are matched one-to-one by IoU with the Hungarian assignment (scipy's
``linear_sum_assignment``). An object left unmatched is, in this order:
- a **division**: it overlaps (>= half of its area) a previous object whose track already continues
  into another object; that track ends and both objects start daughter tracks with it as parent;
- a **gap closure**: it overlaps an object of two frames back whose track ended there (one missing
  frame); it starts a new track whose parent is that one, as the CTC format requires;
- otherwise a new track (parent 0).
Masks are relabelled so that each label is its track id; tracks are ``(L, B, E, P)`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..matching import match_by_iou, overlap


@dataclass
class Track:
    label: int
    begin: int
    end: int
    parent: int = 0


def _iou_table(prev: np.ndarray, cur: np.ndarray):
    ov = overlap(prev, cur)
    return ov.ref_ids, ov.res_ids, ov.inter[1:, 1:], ov.iou(), ov.res_area


def track_frames(frames, min_iou: float = 0.1) -> tuple[np.ndarray, list[Track]]:
    """Relabelled (T, Y, X) uint16 stack with labels = track ids, and the tracks."""
    frames = [np.asarray(f) for f in frames]
    out = np.zeros((len(frames), *frames[0].shape), np.uint16)
    tracks: dict[int, Track] = {}
    next_id = 1
    # per frame: original label -> track id
    ids_prev: dict[int, int] = {}
    ids_prev2: dict[int, int] = {}
    for t, cur in enumerate(frames):
        cur_ids = {}
        labels = np.unique(cur)
        labels = labels[labels > 0]
        assigned: dict[int, int] = {}  # cur label -> track id
        if t > 0 and ids_prev:
            prev_lab, cur_lab, inter, iou, cur_area = _iou_table(frames[t - 1], cur)
            continued = {}  # prev track id -> cur label
            for r, c in zip(*match_by_iou(iou, min_iou)):
                tid = ids_prev[int(prev_lab[r])]
                assigned[int(cur_lab[c])] = tid
                continued[tid] = int(cur_lab[c])
            # divisions: unmatched objects mostly inside a previous object that continued
            for c, lab in enumerate(cur_lab):
                lab = int(lab)
                if lab in assigned or inter.shape[0] == 0:
                    continue
                r = int(np.argmax(inter[:, c]))
                if inter[r, c] < 0.5 * cur_area[c]:
                    continue
                mother = ids_prev[int(prev_lab[r])]
                if mother not in continued:
                    continue
                sister = continued.pop(mother)
                tracks[mother].end = t - 1
                for daughter_lab in (sister, lab):
                    tracks[next_id] = Track(next_id, t, t, mother)
                    assigned[daughter_lab] = next_id
                    next_id += 1
            for tid in set(continued):
                tracks[tid].end = t
        # gap closing over one missing frame
        if t > 1 and ids_prev2:
            ended = {tid for tid in ids_prev2.values() if tracks[tid].end == t - 2}
            free = [int(lab) for lab in labels if int(lab) not in assigned]
            if ended and free:
                prev_lab, cur_lab, _, iou, _ = _iou_table(frames[t - 2], np.where(np.isin(cur, free), cur, 0))
                cand_rows = [i for i, lab in enumerate(prev_lab) if ids_prev2[int(lab)] in ended]
                if cand_rows and len(cur_lab):
                    for r, c in zip(*match_by_iou(iou[cand_rows], min_iou)):
                        parent = ids_prev2[int(prev_lab[cand_rows[r]])]
                        tracks[next_id] = Track(next_id, t, t, parent)
                        assigned[int(cur_lab[c])] = next_id
                        next_id += 1
        for lab in labels:
            lab = int(lab)
            if lab not in assigned:
                tracks[next_id] = Track(next_id, t, t, 0)
                assigned[lab] = next_id
                next_id += 1
            cur_ids[lab] = assigned[lab]
        if next_id > np.iinfo(np.uint16).max:
            raise ValueError("more than 65535 tracks: CTC masks are uint16")
        lut = np.zeros(int(cur.max()) + 1 if cur.size else 1, np.uint16)
        for lab, tid in cur_ids.items():
            lut[lab] = tid
        out[t] = lut[cur]
        ids_prev2, ids_prev = ids_prev, cur_ids
    return out, sorted(tracks.values(), key=lambda tr: tr.label)


def format_tracks(tracks: list[Track]) -> str:
    return "".join(f"{tr.label} {tr.begin} {tr.end} {tr.parent}\n" for tr in tracks)
