"""QM9 from qm9pack-layout CSVs: units, atomisation energies, splits."""

import csv
import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import data
from tfmtl.data import qm9
from tfmtl.errors import UserError

HEADER = ("XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,"
          "XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,"
          "RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,LUMO_au,"
          "HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,"
          "InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,"
          "Heatcapacity_Cv_cal_mol_K")


def row(i, elements, xyz, mu=1.5, homo=-0.25, u0=-40.0):
  """One qm9pack row; numbers written as QM9 does ("0." included)."""
  coords = "[" + ",".join("[" + ",".join(c for c in p) + "]"
                          for p in xyz) + "]"
  return [f"dsgdb9nsd_{i:06d}.xyz", str(i), "C", "InChI", str(len(elements)),
          "[1,0,0,0,0]", "[" + ",".join(f"'{e}'" for e in elements) + "]",
          coords, "[0.]", "[1.]", "1.", "1.", "1.", str(mu), "13.21",
          str(homo), "0.1171", "0.5048", "35.3641", "0.044749", str(u0),
          str(u0 + 0.001), str(u0 + 0.002), str(u0 - 0.02), "6.469"]


def write_csv(path, rows):
  with open(path, "w", newline="") as f:
    f.write(HEADER + "\n")
    csv.writer(f, quoting=csv.QUOTE_MINIMAL).writerows(rows)


def molecules(n, start=0):
  """n water-like molecules (O, H, H) with distinct dipoles and energies."""
  return [row(i + 1, ["O", "H", "H"],
              [("0.", "0.", "0."), ("0.96", "0.", "0."),
               ("-0.24", "0.93", "1.")], mu=0.1 * i, u0=-76.4 - 0.01 * i)
          for i in range(start, start + n)]


def test_units_and_atomisation_energy_by_hand(tmp_path):
  write_csv(tmp_path / "a.csv", molecules(1))
  atoms, pos, y, names = qm9.read_rows([str(tmp_path / "a.csv")])
  np.testing.assert_array_equal(atoms[0, :4], [8, 1, 1, 0])
  np.testing.assert_allclose(pos[0, 2], [-0.24, 0.93, 1.0], rtol=1e-6)
  assert not pos[0, 3:].any() and names == ["dsgdb9nsd_000001.xyz"]
  ev = 27.211386246
  assert y["homo"][0] == pytest.approx(-0.25 * ev)
  assert y["zpve"][0] == pytest.approx(0.044749 * ev)
  assert y["alpha"][0] == 13.21 and y["cv"][0] == 6.469
  # U0_atom = U0 − (E_O + 2 E_H) in eV, QM9's atomic references.
  assert y["u0_atom"][0] == pytest.approx(
      (-76.4 - (-75.064579 + 2 * -0.500273)) * ev)
  assert y["g_atom"][0] == pytest.approx(
      (-76.42 - (-75.079532 + 2 * -0.510927)) * ev)


def test_split_sizes_and_train_normalisation(tmp_path):
  write_csv(tmp_path / "a.csv", molecules(12))
  write_csv(tmp_path / "b.csv", molecules(8, start=12))
  src = data.get("qm9", paths=[str(tmp_path / "a.csv"),
                               str(tmp_path / "b.csv")],
                 test_size=4, val_size=3, seed=1, cache=False)
  assert [src.num_examples(s) for s in ("train", "val", "test")] == [13, 3, 4]
  x, y = src.arrays("train")
  np.testing.assert_allclose(y["mu"].mean(), 0.0, atol=1e-6)
  np.testing.assert_allclose(y["mu"].std(), 1.0, rtol=1e-5)
  raw = src.to_units("mu", y["mu"][:, 0])
  assert set(np.round(raw.astype(float), 4)) <= {
      round(0.1 * i, 4) for i in range(20)}
  # Splits are disjoint draws of one permutation.
  keys = lambda s: {tuple(np.round(v, 5)) for v in  # noqa: E731
                    np.c_[src.arrays(s)[1]["mu"], src.arrays(s)[1]["u0_atom"]]}
  assert not keys("test") & keys("train")
  xb, yb = next(iter(src.dataset("train", 4, shuffle=True)))
  assert xb["atoms"].shape == (4, 29) and xb["positions"].shape == (4, 29, 3)
  assert sorted(yb) == sorted(qm9.TASKS) and yb["cv"].shape == (4, 1)


def test_cache_gives_the_same_arrays(tmp_path, monkeypatch):
  monkeypatch.setenv("TFMTL_DATA_DIR", str(tmp_path / "cache"))
  write_csv(tmp_path / "a.csv", molecules(5))
  first = qm9.read_cached([str(tmp_path / "a.csv")])
  assert len(list((tmp_path / "cache").glob("qm9-*.npz"))) == 1
  second = qm9.read_cached([str(tmp_path / "a.csv")])
  np.testing.assert_array_equal(first[0], second[0])
  np.testing.assert_array_equal(first[2]["h_atom"], second[2]["h_atom"])


def test_errors(tmp_path, monkeypatch):
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(UserError, match=r"pip install tfmtl\[qm9\]"):
    qm9.qm9pack_files()
  (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
  with pytest.raises(UserError, match="not a qm9pack CSV"):
    qm9.read_rows([str(tmp_path / "bad.csv")])
  write_csv(tmp_path / "big.csv", [row(1, ["Cl"], [("0.", "0.", "0.")])])
  with pytest.raises(UserError, match="H, C, N, O, F"):
    qm9.read_rows([str(tmp_path / "big.csv")])
  write_csv(tmp_path / "a.csv", molecules(3))
  with pytest.raises(UserError, match="can't hold"):
    qm9.QM9Source(paths=[str(tmp_path / "a.csv")], cache=False)
  with pytest.raises(UserError, match="unknown tasks"):
    qm9.QM9Source(paths=[str(tmp_path / "a.csv")], tasks=["gap"])


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None,
                    reason="the qm9 extra (qm9pack) is not installed")
def test_qm9pack_files(tmp_path):
  paths = qm9.qm9pack_files()
  count = 0
  for p in paths:
    with open(p, newline="") as f:
      count += sum(1 for _ in csv.reader(f)) - 1
  assert count == 130831
  # Methane, molecule 1, against PyTorch Geometric's QM9 (same units).
  with open(paths[0], newline="") as f:
    first = [next(f) for _ in range(2)]
  (tmp_path / "one.csv").write_text("".join(first))
  _, _, y, names = qm9.read_rows([str(tmp_path / "one.csv")])
  assert names == ["dsgdb9nsd_000001.xyz"]
  want = {"mu": 0.0, "alpha": 13.21, "homo": -10.5499, "lumo": 3.1865,
          "r2": 35.3641, "zpve": 1.2177, "u0_atom": -17.1722,
          "u_atom": -17.2868, "h_atom": -17.3897, "g_atom": -16.1519,
          "cv": 6.469}
  # PyG's values are printed to 4 decimals; ours (float64 unit conversions,
  # ≥ 4.5e-6 from a rounding midpoint) round to them.
  for t, v in want.items():
    assert round(float(y[t][0]), 4) == v, (t, float(y[t][0]))


def test_evaluation_reports_mae_in_units(tmp_path):
  from tfmtl import evaluation, losses  # pylint: disable=g-import-not-at-top
  from tfmtl.tasks import Task  # pylint: disable=g-import-not-at-top
  write_csv(tmp_path / "a.csv", molecules(20))
  src = qm9.QM9Source(paths=[str(tmp_path / "a.csv")], test_size=5,
                      val_size=5, cache=False, tasks=["mu"])
  # Predicting the train mean (0 normalised): MAE in D = mean |y − mean|.
  model = lambda x, training=False: {  # noqa: E731
      "mu": tf.zeros([tf.shape(x["atoms"])[0], 1])}
  got = evaluation.evaluate(model, [Task("mu", losses.mse)], src, "test",
                            5)["mu"]
  _, y = src.arrays("test")
  want = np.mean(np.abs(src.to_units("mu", y["mu"]) - src.target_mean["mu"]))
  assert got["mae_units"] == pytest.approx(want, rel=1e-5)
  assert got["mae_units"] == pytest.approx(got["mae"] * src.target_std["mu"])
