"""The demo's frame stages, overlapped on the cores: decoding beside 2-D detection, rendering beside encoding.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The demo's outputs depend on the whole video: gap filling interpolates towards the next
detection, the left/right fix takes the labelling of most frames as right, the bone-length step uses each bone's
median length over the video, and a seq2seq window needs its last frame. So no output frame is final before the
last frame is detected, and the video is streamed twice (detection pass, render pass). What depends on a frame
alone, and is most of the work besides the detector, can move: decoding it, and shrinking it to the output's frame
side (``hot_pose.wild.render.left_panel``). With ``overlapped=True``:

* detection pass: a worker thread decodes frame t + 1 and shrinks frame t into the panel cache while the caller's
  detector works on frame t (MediaPipe's graph and OpenCV's decoding, resizing and encoding release the GIL);
* render pass: a worker decodes and shrinks the frames the cache does not hold, a second worker composes the
  output frames (skeletons drawn on the panels, ``SideBySideRenderer.compose``), and the caller's thread encodes.

Memory stays bounded on long videos: at most ``QUEUE_FRAMES`` frames wait between two threads, and the panel cache
keeps the most recent frames within ``cache_bytes`` (a sliding window: a video longer than it holds has its first
frames decoded and shrunk again in the render pass, its last ones taken from the cache). ``overlapped=False`` runs
the same functions one after another in the caller's thread; both give byte-identical videos
(``tests/test_demo_speed.py``). ``busy`` adds up the seconds each step worked (whichever thread ran it) and
``waited`` the seconds a consumer waited for its producer.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Callable, Deque, Dict, Iterable, Iterator, Optional, Tuple, TypeVar

import numpy as np

_logger = logging.getLogger(__name__)

T = TypeVar("T")

#: frames that may wait between two threads (each a decoded frame or an output frame)
QUEUE_FRAMES = 4
#: the demo's ``--pipeline`` choices (the first is the default)
PIPELINES = ("overlapped", "sequential")
#: default and largest panel cache of the demo (``--frame-cache``), MiB
DEFAULT_CACHE_MB, MAX_CACHE_MB = 256, 1 << 20
#: how often (s) a blocked thread looks whether its partner gave up
_POLL_S = 0.05


class _Failure:
    """An exception raised in a worker, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def threaded(source: Iterable[T], name: str, maxsize: int = QUEUE_FRAMES,
             waited: Optional[Callable[[float], None]] = None) -> Iterator[T]:
    """Iterate ``source`` in a daemon thread, at most ``maxsize`` items ahead of the caller.

    An exception of the worker is raised in the caller at the item where it happened; the caller stopping early
    (``break``, an exception, ``close``) stops the worker and closes ``source`` in the worker's thread.

    Args:
        source: any iterable (run entirely in the worker thread).
        name: the thread's name.
        maxsize: items that may wait in the queue.
        waited: called with the seconds the caller waited for each item.
    """
    items: "queue.Queue" = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            start = time.perf_counter()
            item = items.get()
            if waited is not None:
                waited(time.perf_counter() - start)
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


class PanelCache:
    """The output panels of the most recent frames, within a byte budget (a sliding window).

    Args:
        budget: bytes the panels may take; 0 keeps none.
    """

    def __init__(self, budget: int) -> None:
        self.budget = int(budget)
        self.bytes = 0
        self._panels: Deque[Tuple[int, np.ndarray]] = deque()

    def clear(self) -> None:
        """Drop every panel."""
        self._panels.clear()
        self.bytes = 0

    def add(self, index: int, panel: np.ndarray) -> None:
        """Keep the panel of frame ``index`` (indices must follow each other), dropping the oldest ones when the
        budget is exceeded."""
        if self._panels and index != self._panels[-1][0] + 1:
            self.clear()  # not the next frame: a new pass
        self._panels.append((index, panel))
        self.bytes += panel.nbytes
        while self._panels and self.bytes > self.budget:
            self.bytes -= self._panels.popleft()[1].nbytes

    def span(self) -> Tuple[int, int]:
        """``(first, end)``: the frames held are ``first`` to ``end - 1`` (``(0, 0)`` when empty)."""
        if not self._panels:
            return 0, 0
        return self._panels[0][0], self._panels[-1][0] + 1

    def pop(self) -> Tuple[int, np.ndarray]:
        """The oldest ``(index, panel)``, removed (memory is freed as the render pass goes)."""
        index, panel = self._panels.popleft()
        self.bytes -= panel.nbytes
        return index, panel

    def __len__(self) -> int:
        return len(self._panels)


class FrameStages:
    """The frames of one demo run, for its detection pass and its render pass (see the module docstring).

    Args:
        frames: ``frames(limit)`` → a fresh iterator over the first ``limit`` decoded BGR frames (all if ``None``).
        overlapped: run the steps in worker threads (else one after another in the caller's thread).
        panel: frame → the output's frame side (``render.left_panel``); ``None`` when nothing is rendered.
        cache_bytes: panel cache budget (``overlapped`` only; 0 = decode every frame again in the render pass).
    """

    def __init__(self, frames: Callable[[Optional[int]], Iterator[np.ndarray]], overlapped: bool = True,
                 panel: Optional[Callable[[np.ndarray], np.ndarray]] = None, cache_bytes: int = 0) -> None:
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, got {cache_bytes}")
        self._source = frames
        self.overlapped = bool(overlapped)
        self._panel = panel
        self.cache = PanelCache(cache_bytes if overlapped and panel is not None else 0)
        self.busy: Dict[str, float] = {}
        self.waited: Dict[str, float] = {}

    def steps(self) -> Dict[str, float]:
        """``busy`` and ``waited`` (as ``wait_<consumer>``) in one table of seconds."""
        return {**self.busy, **{f"wait_{k}": v for k, v in self.waited.items()}}

    def _add(self, table: Dict[str, float], key: str, seconds: float) -> None:
        table[key] = table.get(key, 0.0) + seconds

    def _timed(self, frames: Iterator[np.ndarray], key: str) -> Iterator[np.ndarray]:
        """``frames`` with the time spent producing each one added to ``busy[key]``."""
        while True:
            start = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                self._add(self.busy, key, time.perf_counter() - start)
                return
            self._add(self.busy, key, time.perf_counter() - start)
            yield frame

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        panel = self._panel(frame)
        self._add(self.busy, "panel", time.perf_counter() - start)
        return panel

    def frames(self, limit: Optional[int] = None) -> Iterator[np.ndarray]:
        """The detection pass's frames (the signature of the demo's ``frames(limit)``): decoded in a worker thread
        that also fills the panel cache when ``overlapped``; ``frames(limit)`` itself otherwise."""
        self.cache.clear()
        if not self.overlapped:
            return self._timed(iter(self._source(limit)), "decode")
        return threaded(self._decode_ahead(limit), "hot-decode", waited=lambda s: self._add(self.waited, "detect", s))

    def _decode_ahead(self, limit: Optional[int]) -> Iterator[np.ndarray]:
        """(worker) decode; shrink each frame into the cache before handing it on, so the detector and the
        shrinking never read a frame at the same time."""
        for index, frame in enumerate(self._timed(iter(self._source(limit)), "decode")):
            if self.cache.budget:
                panel = self._shrink(frame)
                self.cache.add(index, panel.copy() if panel is frame else panel)
            yield frame

    def panels(self, count: int) -> Iterator[np.ndarray]:
        """The render pass's panels of frames 0 to ``count`` - 1, in order: decoded and shrunk again (in a worker
        when ``overlapped``), then taken from the cache for the frames it holds. Fewer when the video decodes fewer
        frames than before (the caller counts)."""
        if self._panel is None:
            raise ValueError("FrameStages(panel=None) renders nothing")
        first, end = self.cache.span()
        if end != count:  # the cache does not end at the last frame (another count): decode everything
            self.cache.clear()
            first = count
        source = iter(self._source(first)) if first else iter(())  # frames(0) may mean "all" to a source
        decoded: Iterator[np.ndarray] = (self._shrink(frame) for frame in self._timed(source, "decode"))
        if self.overlapped and first:
            decoded = threaded(decoded, "hot-redecode", waited=lambda s: self._add(self.waited, "compose", s))
        done = 0
        for panel in decoded:
            done += 1
            yield panel
        if done == first:
            while len(self.cache):
                yield self.cache.pop()[1]
        self.cache.clear()

    def render(self, writer, count: int, compose: Callable[[int, np.ndarray], np.ndarray],
               progress: Optional[Callable[[int], object]] = None) -> int:
        """The render pass: ``compose(t, panel)`` → output frame t, encoded with ``writer`` (``video.VideoWriter``)
        in the caller's thread; the panels and the composing run in workers when ``overlapped``.

        Returns:
            the number of frames written (``count`` unless the video decoded fewer frames this time).
        """
        def composed() -> Iterator[np.ndarray]:
            for t, panel in enumerate(self.panels(count)):
                start = time.perf_counter()
                frame = compose(t, panel)
                self._add(self.busy, "compose", time.perf_counter() - start)
                yield frame

        frames = composed()
        if self.overlapped:
            frames = threaded(frames, "hot-compose", waited=lambda s: self._add(self.waited, "encode", s))
        written = 0
        for frame in frames:
            start = time.perf_counter()
            writer.write(frame)
            self._add(self.busy, "encode", time.perf_counter() - start)
            written += 1
            if progress is not None:
                progress(1)
        return written
