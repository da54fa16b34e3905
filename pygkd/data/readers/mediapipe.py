"""MediaPipe Pose landmarks in pygkd's own schema (MediaPipe returns landmarks, it writes no file).

Layout ``mediapipe33`` (BlazePose's 33 landmarks, in MediaPipe's order). A clip is one file, named after
its stem, in either form:

* JSON lines (``.jsonl``), one object per frame::

      {"frame": 0, "landmarks": [[x, y, z, visibility], ...]}              one person (33 landmarks)
      {"frame": 1, "poses": [[[x, y, z, visibility], ...], [...]]}         several persons
      {"frame": 2, "landmarks": []}                                         nobody found

  a landmark may also be an object ``{"x", "y", "z", "visibility"}`` (the fields of MediaPipe's
  ``NormalizedLandmark``); ``frame`` may be left out in every line, then the lines are the frames in order.
* CSV (``.csv``) with the header ``frame,person,landmark,x,y,z,visibility`` (any column order), one row per
  landmark; ``person`` numbers the persons of a frame (0, 1, ...; not an identity across frames), each
  person has every landmark 0-32 once.

``x, y`` are MediaPipe's normalised image coordinates (``pose_landmarks``), ``visibility`` becomes the
score, ``z`` is dropped (its scale is only roughly that of ``x``). Persons are linked across frames by
their joints' centroids (:mod:`.person_tracks`).
"""
from __future__ import annotations

from pathlib import Path

from ..raw import DataFormatError
from .clip_files import ClipSource, json_lines, relative_parts
from .clip_labels import read_csv_columns
from .pose_frames import PoseFrame, frame_of, mediapipe_frame, mediapipe_person

NUM_LANDMARKS = 33
CSV_COLUMNS = ("frame", "person", "landmark", "x", "y", "z", "visibility")


def is_mediapipe_csv(path: Path) -> bool:
    """Whether a CSV file's header names the columns of :data:`CSV_COLUMNS`."""
    try:
        with open(path, encoding="utf-8") as file:
            header = {h.strip() for h in file.readline().split(",")}
    except (OSError, UnicodeDecodeError):
        return False
    return set(CSV_COLUMNS) <= header


def jsonl_frames(path: Path) -> list[PoseFrame]:
    """The frames of a JSON-lines file, each line a frame object."""
    frames = []
    for number, obj in json_lines(path):
        where = f"{path}:{number}"
        if not isinstance(obj, dict) or not ({"landmarks", "poses"} & set(obj)):
            raise DataFormatError(f"{where}: expected a frame {{\"frame\", \"landmarks\": [...]}} or {{\"frame\", "
                                  "\"poses\": [...]}}")
        frames.append(mediapipe_frame(obj, where))
    return frames


def csv_frames(path: Path) -> list[PoseFrame]:
    """The frames of a ``frame,person,landmark,x,y,z,visibility`` CSV."""
    people: dict[int, dict[int, list]] = {}
    lines: dict[tuple[int, int, int], int] = {}
    for line, values in read_csv_columns(path, CSV_COLUMNS):
        where = f"{path}:{line}"
        try:
            frame, person, landmark = (int(v) for v in values[:3])
            x, y, z, visibility = (float(v) for v in values[3:])
        except ValueError:
            raise DataFormatError(f"{where}: expected integers frame, person, landmark and numbers x, y, z, "
                                  f"visibility, got {','.join(values)}") from None
        if min(frame, person) < 0 or not 0 <= landmark < NUM_LANDMARKS:
            raise DataFormatError(f"{where}: frame {frame}, person {person}, landmark {landmark}: expected frame, "
                                  f"person >= 0 and landmark 0..{NUM_LANDMARKS - 1}")
        key = (frame, person, landmark)
        if key in lines:
            raise DataFormatError(f"{where}: frame {frame}, person {person}, landmark {landmark} again "
                                  f"(first at line {lines[key]})")
        lines[key] = line
        marks = people.setdefault(frame, {}).setdefault(person, [None] * NUM_LANDMARKS)
        marks[landmark] = [x, y, z, visibility]
    frames = []
    for frame, persons in people.items():
        parsed = []
        for person, marks in sorted(persons.items()):
            where = f"{path}: frame {frame}, person {person}"
            if None in marks:
                raise DataFormatError(f"{where}: landmark {marks.index(None)} missing; expected 0..{NUM_LANDMARKS - 1}")
            parsed.append(mediapipe_person(marks, where))
        frames.append(frame_of(frame, parsed, f"{path}: frame {frame}"))
    return frames


def mediapipe_clip(path: Path, root: Path) -> ClipSource:
    """The clip of one ``.jsonl`` or ``.csv`` file."""
    read = csv_frames if path.suffix.lower() == ".csv" else jsonl_frames
    return ClipSource(path.stem, path, relative_parts(path, root), lambda: read(path))
