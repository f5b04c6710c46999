"""The interpreter is released while the Rust core works: other Python threads run."""

import os
import threading
import time

import modeloci
from modeloci.core import ModelPackager, ModelUnpackager
from modeloci.models import OCIConfig


def count_while(work):
    """How many times another thread got to run while ``work()`` ran, and its result."""
    ticks = 0
    stop = threading.Event()

    def tick():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        started = time.monotonic()
        result = work()
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
    return ticks, elapsed, result


def test_pack_verify_and_unpack_let_other_threads_run(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(96 << 20))
    config = OCIConfig(model_name="big", version="1", framework="pytorch", architecture="x")
    for work in (
        lambda: ModelPackager(compression="gzip", cache=False).package(model, config),
        lambda: modeloci.verify(tmp_path / "big-1.tar"),
        lambda: ModelUnpackager().unpack(tmp_path / "big-1.tar", tmp_path / "out"),
    ):
        ticks, elapsed, _ = count_while(work)
        # A held interpreter lets the ticker run once per switch interval (5 ms) at best;
        # released, it runs about once per millisecond of the work.
        assert elapsed > 0.05, elapsed
        assert ticks >= elapsed * 1000 * 0.3, (ticks, elapsed)
