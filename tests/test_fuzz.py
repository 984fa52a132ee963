"""Mutated input files through ``sbidic.cli.main``: never a traceback, and no output
file left behind after an error (quick versions in the default run, long ones slow)."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sbidic.cli import main

EXAMPLES = Path(str(resources.files("sbidic") / "examples"))
CONDUCTANCES = (
    "ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n"
    "a,6600.82471,125.961075,4.14918208,18.3416405,159.677516,413.833466,0.321589451,0.0095\n"
    "b,5000.0,100.0,3.0,10.0,120.0,300.0,0.5,0.01\n"
)


def mutate(text: bytes, rng: np.random.Generator) -> bytes:
    """One to three random edits: byte flips, deleted / repeated / swapped lines,
    inserted junk, truncation."""
    data = bytearray(text)
    for _ in range(rng.integers(1, 4)):
        kind = rng.integers(7)
        lines = bytes(data).split(b"\n")
        if kind == 0 and data:  # flip bytes
            for i in rng.integers(0, len(data), rng.integers(1, 6)):
                data[i] = rng.integers(0, 256)
        elif kind == 1 and len(lines) > 1:  # delete a line
            del lines[rng.integers(len(lines))]
            data = bytearray(b"\n".join(lines))
        elif kind == 2:  # repeat a line
            i = rng.integers(len(lines))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        elif kind == 3 and len(lines) > 2:  # swap two lines (header included)
            i, j = rng.integers(len(lines), size=2)
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        elif kind == 4:  # insert junk
            junk = rng.choice([b",", b'"', b"[", b"]", b"nan", b"-1", b"1e400", b"\x00", b" "])
            i = rng.integers(0, len(data) + 1)
            data[i:i] = junk
        elif kind == 5:  # truncate
            data = data[: rng.integers(0, len(data) + 1)]
        else:  # replace a number
            s = bytes(data).decode("latin-1")
            digits = [i for i, c in enumerate(s) if c.isdigit()]
            if digits:
                i = int(rng.choice(digits))
                data[i : i + 1] = rng.choice([b"-", b"x", b"9" * 30, b"", b"."])
    return bytes(data)


def fuzz(tmp_path, capsys, source: bytes, argv, n_cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = []
    for case in range(n_cases):
        path = tmp_path / f"in{case}.csv"
        path.write_bytes(mutate(source, rng))
        out = tmp_path / f"out{case}.csv"
        code = main([a.format(input=path, output=out) for a in argv])  # raises = traceback
        err = capsys.readouterr().err
        assert code in (0, 2), (case, code, err)
        assert "Traceback" not in err
        if code == 2:
            assert not list(tmp_path.glob(f"out{case}*")), (case, err)
            assert err.startswith("sbidic "), err
        codes.append(code)
    assert 2 in codes  # the mutations do produce errors


INFER = ["infer", "{input}", "--model", "stg", "-n", "1", "--seed", "0", "-o", "{output}"]
SIMULATE = ["simulate", "{input}", "--model", "stg", "--duration", "20", "--transient", "10",
            "--dt", "0.05", "-o", "{output}"]  # fmt: skip


def test_fuzzed_recordings_quick(tmp_path, capsys):
    source = (EXAMPLES / "stg_recordings.csv").read_bytes()
    fuzz(tmp_path, capsys, source, INFER, n_cases=100, seed=0)


def test_fuzzed_conductances_quick(tmp_path, capsys):
    fuzz(tmp_path, capsys, CONDUCTANCES.encode(), SIMULATE, n_cases=100, seed=0)


def seconds_column() -> bytes:
    """The commonest export: one spike time per line, in seconds (201 lines)."""
    seconds = np.cumsum(np.random.default_rng(5).uniform(0.05, 0.2, 201))
    return ("\n".join(f"{t:.5f}" for t in seconds) + "\n").encode()


def long_trains() -> bytes:
    """Spike2Pop CSV whose first train (the bundled bursting STG recording, tiled) has a
    spike list longer than the csv module's 131,072-character field limit."""
    from sbidic.spikes import SpikeTrains, read_spikes, write_spike_csv

    example = read_spikes(EXAMPLES / "stg_recordings.csv")
    burst = example[3]
    period = burst[-1] - burst[0] + 50.0
    tiled = np.concatenate([burst + k * period for k in range(100)])
    trains = SpikeTrains.from_list([tiled, example[0]], ids=["long", "short"])
    with tempfile.TemporaryDirectory() as tmp:
        write_spike_csv(trains, Path(tmp) / "long.csv")
        text = (Path(tmp) / "long.csv").read_bytes()
    assert max(map(len, text.splitlines())) > 131_072
    return text


def report_warnings(path: Path) -> list[str]:
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False)["warning"].tolist()


def test_seconds_as_ms_are_one_train_flagged_in_the_report(tmp_path, capsys):
    path = tmp_path / "pallidal.csv"
    path.write_bytes(seconds_column())
    out = tmp_path / "out.csv"
    with pytest.warns(UserWarning, match=f"{path}: one time per line: read the 201 times"):
        assert main([a.format(input=path, output=out) for a in INFER]) == 0
    (warning,) = report_warnings(tmp_path / "out_report.csv")
    assert "faster than any shipped model fires" in warning
    assert "read them with time_unit=s" in warning
    argv = [a.format(input=path, output=tmp_path / "s.csv") for a in INFER]
    assert main([*argv, "--read-option", "time_unit=s"]) == 0
    assert "time_unit=s" not in report_warnings(tmp_path / "s_report.csv")[0]


def test_long_trains_read_back_through_infer(tmp_path, capsys):
    path = tmp_path / "long.csv"
    path.write_bytes(long_trains())
    out = tmp_path / "out.csv"
    assert main([a.format(input=path, output=out) for a in INFER]) == 0, capsys.readouterr()
    assert "Traceback" not in capsys.readouterr().err
    assert report_warnings(tmp_path / "out_report.csv")[0] == ""


def test_fuzzed_seconds_column_quick(tmp_path, capsys):
    fuzz(tmp_path, capsys, seconds_column(), INFER, n_cases=12, seed=0)


def test_fuzzed_long_trains_quick(tmp_path, capsys):
    fuzz(tmp_path, capsys, long_trains(), INFER, n_cases=8, seed=0)


@pytest.mark.slow
def test_fuzzed_recordings_long(tmp_path, capsys):
    source = (EXAMPLES / "stg_recordings.csv").read_bytes()
    fuzz(tmp_path, capsys, source, INFER, n_cases=1000, seed=1)


@pytest.mark.slow
def test_fuzzed_conductances_long(tmp_path, capsys):
    fuzz(tmp_path, capsys, CONDUCTANCES.encode(), SIMULATE, n_cases=300, seed=1)
