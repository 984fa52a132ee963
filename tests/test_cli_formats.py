"""``sbidic infer`` and ``sbidic simulate`` with every spike-file format, end to end."""

from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sbidic.cli import main
from sbidic.spikes import read_spike_csv, read_spikes, write_spikes

pynwb = pytest.importorskip("pynwb", reason="NWB tests need pynwb: pip install 'sbidic[formats]'")
neo = pytest.importorskip("neo", reason="Neo tests need neo: pip install 'sbidic[formats]'")
pq = pytest.importorskip("quantities")

EXAMPLES = Path(str(resources.files("sbidic") / "examples"))


@pytest.fixture(scope="module")
def recordings():
    """Two active recordings and a silent one from the bundled STG examples."""
    st = read_spike_csv(EXAMPLES / "stg_recordings.csv")
    return st[np.array([0, 1, len(st) - 1])]


def _neo_nix(path, st):
    block = neo.Block()
    seg = neo.Segment()
    block.segments.append(seg)
    for rid, train in zip(st.ids, st, strict=True):
        seg.spiketrains.append(neo.SpikeTrain(train / 1e3 * pq.s, t_stop=20.0 * pq.s, name=rid))
    with neo.io.NixIO(str(path), "ow") as io:
        io.write_block(block)


@pytest.mark.parametrize("suffix", [".nwb", ".npz", ".txt", ".nix"])
def test_infer_reads_every_format(tmp_path, capsys, recordings, suffix):
    path = tmp_path / f"recordings{suffix}"
    if suffix == ".nix":
        _neo_nix(path, recordings)
    else:
        write_spikes(recordings, path)
    out = tmp_path / "pop.csv"
    rc = main(["infer", str(path), "--model", "stg", "-n", "2", "--seed", "0", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"reading {path} as " in captured.err
    ids = [row.split(",")[0] for row in out.read_text().splitlines()[1:]]
    assert sorted(set(ids)) == sorted(str(i) for i in recordings.ids[:2])  # the silent one: none


def test_infer_format_option_reads_nwb_through_neo(tmp_path, capsys, recordings):
    path = tmp_path / "rec.nwb"  # written by Neo's NWBIO (it reads only its own layout)
    block = neo.Block(session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
                      identifier="neo", session_description="neo")  # fmt: skip
    block.segments.append(neo.Segment())
    for rid, train in zip(recordings.ids, recordings, strict=True):
        block.segments[0].spiketrains.append(
            neo.SpikeTrain(train * pq.ms, t_stop=20.0 * pq.s, name=rid)
        )
    neo.io.NWBIO(str(path), mode="w").write_all_blocks([block])
    rc = main(["infer", str(path), "--format", "neo", "--model", "stg", "-n", "2", "--seed", "0"])
    assert rc == 0
    assert f"reading {path} as neo" in capsys.readouterr().err


def test_infer_rejects_an_unreadable_file_with_exit_2(tmp_path, capsys):
    for name, content in (("rec.nwb", b"junk"), ("rec.npz", b"junk"), ("rec.nix", b"\0" * 64)):
        (tmp_path / name).write_bytes(content)
        assert main(["infer", str(tmp_path / name), "--model", "stg", "-n", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("sbidic infer: error: ") and name in err[-1]
        assert "Traceback" not in "".join(err)


@pytest.mark.parametrize("suffix", [".nwb", ".npz"])
def test_simulate_writes_nwb_and_npz_with_conductances(tmp_path, capsys, suffix):
    csv_in = tmp_path / "cells.csv"
    csv_in.write_text(
        "ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n"
        "7,6600.82471,125.961075,4.14918208,18.3416405,159.677516,413.833466,0.321589451,"
        "0.00957712096\n"
    )
    out = tmp_path / f"sims{suffix}"
    assert main(["simulate", str(csv_in), "--model", "stg", "--duration", "1500",
                 "--transient", "500", "-o", str(out)]) == 0  # fmt: skip
    st = read_spikes(out)
    assert len(st) == 1 and st.n_spikes[0] > 3
    if suffix == ".nwb":
        with pynwb.NWBHDF5IO(str(out), "r") as io:
            units = io.read().units
            assert units["g_Na"].data[0] == 6600.82471
            assert units["population_ID"].data[0] == "7"
    else:
        z = np.load(out)
        assert z["g_leak"][0] == 0.00957712096 and z["population_ID"].tolist() == ["7"]


def test_infer_writes_populations_and_report_to_nwb(tmp_path, capsys, recordings):
    from sbidic.population.result import read_population_nwb

    path, out = tmp_path / "rec.nwb", tmp_path / "pops.nwb"
    write_spikes(recordings, path)
    assert main(["infer", str(path), "--model", "stg", "-n", "3", "--seed", "0",
                 "-o", str(out)]) == 0  # fmt: skip
    pop = read_population_nwb(out)
    assert pop.model == "stg" and pop.conductances.shape == (2, 3, 8)
    assert pop.obs_id.tolist() == [str(i) for i in recordings.ids[:2]]
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        report = io.read().processing["sbidic"]["report"].to_dataframe()
    assert len(report) == 3 and "silent" in " ".join(map(str, report["status"]))
    with pynwb.NWBHDF5IO(str(path), "r") as src, pynwb.NWBHDF5IO(str(out), "r") as dst:
        assert dst.read().identifier == src.read().identifier + "-sbidic"


def test_infer_detects_spikes_in_an_abf_voltage_trace(tmp_path, capsys, abf_writer):
    t = np.arange(0.0, 3000.0, 0.1)  # ms, 10 kHz: tonic spiking at 10 Hz
    v = np.where((t % 100.0) < 1.0, 30.0, -60.0)
    path = tmp_path / "cell.abf"
    abf_writer.writeABF1(v[None, :], str(path), 10_000, units="mV")
    out = tmp_path / "pop.csv"
    rc = main(["infer", str(path), "--model", "stg", "-n", "2", "--seed", "0", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"reading {path} as neo" in captured.err
    assert len(out.read_text().splitlines()) == 1 + 2


def test_population_and_simulate_stay_in_nwb(tmp_path, capsys):
    from sbidic import load_population

    pop, sims = tmp_path / "pop.nwb", tmp_path / "sims.nwb"
    assert main(["population", "--model", "stg", "--g-s", "-4", "--g-u", "5", "-n", "2",
                 "--seed", "0", "-o", str(pop)]) == 0  # fmt: skip
    assert load_population(pop).conductances.shape == (1, 2, 8)
    assert main(["simulate", str(pop), "--duration", "1500", "--transient", "500",
                 "-o", str(sims)]) == 0  # fmt: skip
    assert len(read_spikes(sims)) == 2


@pytest.mark.slow
def test_scored_populations_keep_their_fidelity_in_nwb(tmp_path, recordings):
    import sbidic

    short = {"duration_ms": 1500.0, "transient_ms": 500.0}
    result = sbidic.infer(recordings[:1], "stg", n=2, seed=0, score=True, simulation=short)
    result.save(tmp_path / "scored.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "scored.nwb"), "r") as io:
        table = io.read().processing["sbidic"]["fidelity"].to_dataframe()
    expected = result.population.fidelity_table()
    assert list(table.columns) == list(expected.columns) and len(table) == 2
    np.testing.assert_array_equal(table["cell"], expected["cell"])


def test_infer_passes_reader_options(tmp_path, capsys, abf_writer):
    t = np.arange(0.0, 3000.0, 0.1)  # spikes peak at 5 mV: seen only with a lower threshold
    v = np.where((t % 100.0) < 1.0, 5.0, -60.0)
    path = tmp_path / "low.abf"
    abf_writer.writeABF1(v[None, :], str(path), 10_000, units="mV")
    argv = ["infer", str(path), "--model", "stg", "-n", "2", "--seed", "0"]
    assert main(argv) == 0 and "silent: fewer than 3 spikes" in capsys.readouterr().out
    assert main([*argv, "--read-option", "up_mV=0", "--read-option", "down_mV=-10"]) == 0
    out = capsys.readouterr().out
    assert "fewer than 3 spikes" not in out and "spiking" in out
    assert main([*argv, "--read-option", "id_column=x"]) == 2
    assert "neo reader takes no option id_column" in capsys.readouterr().err
    assert main([*argv, "--read-option", "up_mV"]) == 2
    assert "--read-option takes KEY=VALUE" in capsys.readouterr().err
