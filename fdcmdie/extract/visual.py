"""Visual frame features: facial expression geometry per sampled frame.

``mediapipe`` backend: FaceMesh (468 landmarks, tracking between frames) gives mouth, smile, brow and eye
measurements in face-aligned coordinates (rotated so the eyes are level, divided by the distance between
the outer eye corners, so they do not depend on face size or in-plane tilt) and the head pose from the 3-D
landmarks. ``haar`` backend (fallback when mediapipe cannot be imported): OpenCV's Haar face and smile
cascades fill the face box columns and a smile flag; the landmark columns stay 0 and ``landmarks`` = 0 tells
the model so. Both give the same width (:data:`VISION_COLUMNS`). Frames without a face are dropped.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .common import ExtractConfig, ExtractionError, VisualResult

VISION_COLUMNS: tuple[str, ...] = (
    "mouth_open",        # inner-lip gap / eye span                                  (mediapipe)
    "mouth_width",       # lip-corner distance / eye span                            (mediapipe)
    "smile",             # lift of the lip corners above the lip centre / eye span   (mediapipe)
    "brow_raise_left",   # brow-to-upper-eyelid distance / eye span, subject's left  (mediapipe)
    "brow_raise_right",  #                                                           (mediapipe)
    "eye_open_left",     # eyelid gap / eye span                                     (mediapipe)
    "eye_open_right",    #                                                           (mediapipe)
    "head_yaw",          # degrees, from the 3-D eye line                            (mediapipe)
    "head_pitch",        # degrees, from the 3-D forehead-chin line                  (mediapipe)
    "head_roll",         # degrees, in-plane tilt of the eye line                    (mediapipe)
    "face_size",         # face width / frame width                                  (both)
    "face_x",            # face centre, 0 = left edge .. 1 = right edge               (both)
    "face_y",            # face centre, 0 = top .. 1 = bottom                         (both)
    "haar_smile",        # 1 when OpenCV's smile cascade fires in the face            (haar only)
    "landmarks",         # 1 = the mediapipe columns are measured, 0 = Haar fallback row
)

# FaceMesh landmark indices ("left"/"right" = the subject's).
_EYE_OUTER_R, _EYE_OUTER_L = 33, 263
_LID_UP_R, _LID_LOW_R, _LID_UP_L, _LID_LOW_L = 159, 145, 386, 374
_BROW_R, _BROW_L = 105, 334
_LIP_UP, _LIP_LOW, _MOUTH_R, _MOUTH_L = 13, 14, 61, 291
_FOREHEAD, _CHIN, _CHEEK_R, _CHEEK_L = 10, 152, 234, 454


def columns() -> tuple[str, ...]:
    return VISION_COLUMNS


def mediapipe_available() -> str | None:
    """None when mediapipe's face mesh can be imported, else the reason it cannot."""
    try:
        from mediapipe.python.solutions import face_mesh  # noqa: F401
    except Exception as e:  # ImportError, or OSError from a missing system library
        return f"{type(e).__name__}: {e}"
    return None


def visual_features(frames: Iterable[tuple[float, np.ndarray]], config: ExtractConfig | None = None) -> VisualResult:
    """Measure the face in each ``(time_s, rgb)`` frame; rows only for frames with a face."""
    config = config or ExtractConfig()
    warnings: list[str] = []
    backend = config.visual_backend
    if backend in ("auto", "mediapipe"):
        reason = mediapipe_available()
        if reason is not None:
            if backend == "mediapipe":
                raise ExtractionError(f"visual_backend='mediapipe' but mediapipe cannot be used ({reason})")
            warnings.append(f"mediapipe unavailable ({reason}); using OpenCV Haar cascades: landmark columns are 0")
            backend = "haar"
        else:
            backend = "mediapipe"
    detector = _MediapipeFaces(config) if backend == "mediapipe" else _HaarFaces()
    rows, times, crops = [], [], []
    sampled = 0
    with detector:
        for t, rgb in frames:
            sampled += 1
            found = detector.measure(rgb)
            if found is None:
                continue
            rows.append(found.row)
            times.append(t)
            crops.append(found)
    images = _face_images(crops, config)
    feats = np.stack(rows).astype(np.float32) if rows else None
    return VisualResult(features=feats, times=np.asarray(times, np.float32), columns=VISION_COLUMNS,
                        frames_sampled=sampled, faces_seen=len(rows), backend=backend,
                        face_images=images, warnings=warnings)


@dataclass
class _Face:
    """One measured frame: the feature row plus what is needed to draw a display crop later."""

    row: np.ndarray
    crop: np.ndarray            # square RGB crop around the face (not yet resized)
    points: np.ndarray | None   # (468, 2) landmark pixels in crop coordinates, or None (Haar)
    box: tuple[int, int, int, int] | None = None  # smile box in crop coordinates (Haar)


class _MediapipeFaces:
    def __init__(self, config: ExtractConfig):
        from mediapipe.python.solutions import face_mesh

        self._mesh = face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False,
                                        min_detection_confidence=config.min_face_confidence,
                                        min_tracking_confidence=config.min_face_confidence)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._mesh.close()

    def measure(self, rgb: np.ndarray) -> _Face | None:
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        lm = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], np.float64)
        px = lm * np.array([w, h, w])  # mediapipe's z uses the x scale
        row = landmark_geometry(px, w, h)
        crop, origin = _square_crop(rgb, px[:, 0].min(), px[:, 1].min(), px[:, 0].max(), px[:, 1].max())
        return _Face(row=row, crop=crop, points=px[:, :2] - origin)


def landmark_geometry(px: np.ndarray, width: int, height: int) -> np.ndarray:
    """The :data:`VISION_COLUMNS` row of one face from FaceMesh landmarks in pixels, shape (468, 3)."""
    right, left = px[_EYE_OUTER_R], px[_EYE_OUTER_L]
    eye_vec = left[:2] - right[:2]
    span = float(np.linalg.norm(eye_vec)) or 1.0
    roll = np.arctan2(eye_vec[1], eye_vec[0])
    c, s = np.cos(-roll), np.sin(-roll)
    q = (px[:, :2] - (left[:2] + right[:2]) / 2) @ np.array([[c, -s], [s, c]]).T / span  # eyes level, y down

    def dy(a: int, b: int) -> float:  # how far landmark b lies below landmark a
        return float(q[b, 1] - q[a, 1])

    # head pose: orthonormal face axes from the 3-D eye line and forehead-chin line
    x_axis = _unit(left - right)
    down = px[_CHIN] - px[_FOREHEAD]
    y_axis = _unit(down - down @ x_axis * x_axis)
    yaw = np.degrees(np.arcsin(np.clip(x_axis[2], -1, 1)))
    pitch = np.degrees(np.arcsin(np.clip(y_axis[2], -1, 1)))
    face_w = float(np.linalg.norm(px[_CHEEK_L, :2] - px[_CHEEK_R, :2]))
    return np.array([
        dy(_LIP_UP, _LIP_LOW),
        abs(float(q[_MOUTH_L, 0] - q[_MOUTH_R, 0])),
        (q[_LIP_UP, 1] + q[_LIP_LOW, 1]) / 2 - (q[_MOUTH_R, 1] + q[_MOUTH_L, 1]) / 2,
        dy(_BROW_L, _LID_UP_L),
        dy(_BROW_R, _LID_UP_R),
        dy(_LID_UP_L, _LID_LOW_L),
        dy(_LID_UP_R, _LID_LOW_R),
        yaw, pitch, np.degrees(roll),
        face_w / width,
        float(px[:, 0].mean()) / width,
        float(px[:, 1].mean()) / height,
        0.0,
        1.0,
    ], np.float32)


class _HaarFaces:
    def __init__(self):
        import cv2

        root = cv2.data.haarcascades
        self._face = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
        self._smile = cv2.CascadeClassifier(root + "haarcascade_smile.xml")
        if self._face.empty() or self._smile.empty():
            raise ExtractionError(f"OpenCV Haar cascades not found under {root}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def measure(self, rgb: np.ndarray) -> _Face | None:
        import cv2

        h, w = rgb.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        faces = self._face.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(32, 32))
        if len(faces) == 0:
            return None
        x, y, bw, bh = (int(v) for v in max(faces, key=lambda f: f[2] * f[3]))
        lower = gray[y + bh // 2: y + bh, x: x + bw]
        smiles = self._smile.detectMultiScale(lower, scaleFactor=1.1, minNeighbors=10,
                                              minSize=(max(bw // 4, 8), max(bh // 10, 4)))
        row = np.zeros(len(VISION_COLUMNS), np.float32)
        col = VISION_COLUMNS.index
        row[col("face_size")] = bw / w
        row[col("face_x")] = (x + bw / 2) / w
        row[col("face_y")] = (y + bh / 2) / h
        row[col("haar_smile")] = float(len(smiles) > 0)
        crop, origin = _square_crop(rgb, x, y, x + bw, y + bh)
        box = None
        if len(smiles):
            sx, sy, sw, sh = (int(v) for v in smiles[0])
            ox, oy = int(x + sx - origin[0]), int(y + bh // 2 + sy - origin[1])
            box = (ox, oy, ox + sw, oy + sh)
        return _Face(row=row, crop=crop, points=None, box=box)


def _square_crop(rgb: np.ndarray, x0: float, y0: float, x1: float, y1: float,
                 margin: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """A square crop around a box (plus margin), clipped to the image; returns (crop, top-left corner)."""
    h, w = rgb.shape[:2]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * (0.5 + margin)
    left, top = int(max(cx - half, 0)), int(max(cy - half, 0))
    right, bottom = int(min(cx + half, w)), int(min(cy + half, h))
    return rgb[top:bottom, left:right].copy(), np.array([left, top], np.float64)


def _face_images(faces: list[_Face], config: ExtractConfig) -> list[np.ndarray]:
    """Up to ``n_face_images`` crops spread over the clip, resized, with the landmark contours drawn."""
    import cv2

    if not faces or config.n_face_images <= 0:
        return []
    n = min(config.n_face_images, len(faces))
    picks = np.linspace(0, len(faces) - 1, n).round().astype(int)
    side = config.face_image_size
    out = []
    for i in picks:
        face = faces[i]
        if face.crop.size == 0:
            continue
        scale = np.array([side / face.crop.shape[1], side / face.crop.shape[0]])
        img = np.ascontiguousarray(cv2.resize(face.crop, (side, side), interpolation=cv2.INTER_AREA))
        if face.points is not None:
            pts = np.round(face.points * scale).astype(int)
            for a, b in _contours():
                cv2.line(img, tuple(pts[a]), tuple(pts[b]), (0, 255, 0), 1, cv2.LINE_AA)
        elif face.box is not None:
            x0, y0, x1, y1 = face.box
            cv2.rectangle(img, (int(x0 * scale[0]), int(y0 * scale[1])), (int(x1 * scale[0]), int(y1 * scale[1])),
                          (255, 200, 0), 1)
        out.append(img.astype(np.uint8))
    return out


def _contours() -> list[tuple[int, int]]:
    """Face-oval, eye, brow and lip outlines of FaceMesh (for drawing)."""
    try:
        from mediapipe.python.solutions.face_mesh_connections import FACEMESH_CONTOURS
    except Exception:
        return []
    return sorted(FACEMESH_CONTOURS)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v
