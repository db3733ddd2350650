"""Progress bars: throughput and time left, rendered against a fake clock."""

import io
import re

import pytest
from rich.console import Console

from domaingen.progress import ProgressReporter, format_eta, format_rate


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def reporter(clock):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    return ProgressReporter(True, console=console, get_time=clock), out


def last_frame(out: io.StringIO) -> str:
    """The last line a live display drew (frames are separated by carriage returns and
    terminal control sequences, removed here)."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    return [f for f in re.split(r"[\r\n]", text) if f.strip()][-1]


@pytest.mark.parametrize(
    "rate, unit, text",
    [
        (None, "record", "-- records/s"),
        (0.25, "epoch", "4.0 s/epoch"),
        (12.34, "record", "12.3 records/s"),
        (640, "record", "640 records/s"),
        (12_345, "record", "12.3k records/s"),
        (4_200_000, "record", "4.2M records/s"),
    ],
)
def test_format_rate(rate, unit, text):
    assert format_rate(rate, unit) == text


def test_format_eta():
    assert format_eta(None) == "eta --"
    assert format_eta(83.2) == "eta 0:01:24"
    assert format_eta(3 * 3600 + 5) == "eta 3:00:05"


def test_bar_shows_records_per_second_and_eta_from_the_clock():
    clock = Clock()
    progress, out = reporter(clock)
    with progress.task("generating", 10_000, unit="record") as bar:
        clock.now = 10.0
        bar.advance(2_500)
        clock.now = 20.0
        bar.advance(2_500)  # 2,500 records in the last 10 s: 250/s, 5,000 left
        bar._progress.refresh()
        frame = last_frame(out)
        assert "5000/10000" in frame and "250 records/s" in frame and "eta 0:00:20" in frame
        clock.now = 30.0
        bar.advance(5_000)
    final = last_frame(out)
    assert "10000/10000" in final and "eta" not in final and "records/s" in final


def test_skipped_steps_are_not_counted_in_the_rate():
    clock = Clock()
    progress, out = reporter(clock)
    with progress.task("generating", 100, unit="record") as bar:
        bar.skip(90)  # resumed: done by an earlier run
        clock.now = 5.0
        bar.advance(1)
        clock.now = 10.0
        bar.advance(1)  # 1 record in 5 s now; 8 left
        bar._progress.refresh()
        frame = last_frame(out)
    assert "92/100" in frame and "5.0 s/record" in frame and "eta 0:00:40" in frame


def test_disabled_reporter_renders_nothing():
    progress = ProgressReporter(False)
    with progress.task("generating", 10, unit="record") as bar:
        bar.advance(5)
        bar.skip(2)
