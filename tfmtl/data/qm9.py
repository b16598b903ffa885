"""QM9 (Ramakrishnan et al., Scientific Data 2014): the 11-task benchmark.

130,831 molecules (up to 29 atoms of H, C, N, O, F) with B3LYP geometries
and properties, read from the CSVs that ship in `qm9pack` (MIT; by QM9's
first author): `qm9pack/data/qm9_part{1,2,3}.csv`. The files are found with
importlib's package lookup without importing qm9pack (its `__init__`
imports `pkg_resources`, gone from setuptools ≥ 81).
Install with `pip install tfmtl[qm9]`.

Tasks: the 11 targets of the benchmark of Nash-MTL, FAMO, FairGrad and
LibMTL (PyTorch Geometric's target indices 0, 1, 2, 3, 5, 6, 12, 13, 14,
15, 11), in PyG's units:

  mu        dipole moment (D)            alpha   polarizability (a₀³)
  homo      HOMO energy (eV)             lumo    LUMO energy (eV)
  r2        electronic spatial extent (a₀²)
  zpve      zero-point vibrational energy (eV)
  u0_atom, u_atom, h_atom, g_atom   atomisation energies (eV): the totals
            U0, U, H, G minus Σ over the atoms of QM9's atomic reference
            energies (`ATOM_REF`, Hartree, from QM9's atomref table)
  cv        heat capacity at 298 K (cal/mol K)

Hartree → eV by 27.211386246 (PyG's HAR2EV). Labels are normalised to zero
mean and unit standard deviation (`normalize=True`, as the papers' code);
`target_mean` / `target_std` map them back; evaluation reports the MAE in
the units above as `mae_units` (normalised MAE × std, via `label_std`).
The papers' code takes the statistics over the whole
data set; here over the train split only (no test information leaks in).

Split: a permutation with a fixed seed; the first 10,000 molecules are the
test split, the next 10,000 validation, the rest (110,831) training, as
LibMTL's `random_split.t` layout.

Inputs, padded to 29 atoms: {"atoms": [29] int32 atomic numbers (0 =
padding), "positions": [29, 3] float32 Å}. Graph features (complete graph,
distances) are computed by the model (`mpnn`), as PyG's `Complete` and
`Distance` transforms. What the CSVs lack against PyG's QM9: bond types and
RDKit atom features (aromaticity, hybridisation); the model infers bonds
from covalent radii instead.
"""

import csv
import hashlib
import importlib.util
import os
import re
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmtl.data.source import SPLITS, ArraySource
from tfmtl.errors import UserError

MAX_ATOMS = 29
FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
HARTREE_TO_EV = 27.211386246
ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
# QM9 atomref (Hartree): U0, U (298 K), H (298 K), G (298 K) of the atoms.
ATOM_REF = {"H": (-0.500273, -0.498857, -0.497912, -0.510927),
            "C": (-37.846772, -37.845355, -37.844411, -37.861317),
            "N": (-54.583861, -54.582445, -54.581501, -54.598897),
            "O": (-75.064579, -75.063163, -75.062219, -75.079532),
            "F": (-99.718730, -99.717314, -99.716370, -99.733544)}
TASKS = ("mu", "alpha", "homo", "lumo", "r2", "zpve", "u0_atom", "u_atom",
         "h_atom", "g_atom", "cv")
UNITS = {"mu": "D", "alpha": "a0^3", "homo": "eV", "lumo": "eV",
         "r2": "a0^2", "zpve": "eV", "u0_atom": "eV", "u_atom": "eV",
         "h_atom": "eV", "g_atom": "eV", "cv": "cal/mol K"}
COLUMNS = {"mu": "Dipole_debye", "alpha": "Polarizability_bohr3",
           "homo": "HOMO_au", "lumo": "LUMO_au", "r2": "R2_bohr2",
           "zpve": "ZPVE_au", "cv": "Heatcapacity_Cv_cal_mol_K"}
TOTALS = ("InternalEnergy_0K_au", "InternalEnergy_298K_au",
          "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au")
TEST, VAL = 10000, 10000
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def qm9pack_files():
  """Paths of qm9pack's three CSVs, found without importing qm9pack."""
  spec = importlib.util.find_spec("qm9pack")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("the qm9 source reads QM9 from the qm9pack package, "
                    "which is not installed: pip install tfmtl[qm9]")
  for folder in spec.submodule_search_locations:
    paths = [os.path.join(folder, "data", f) for f in FILES]
    if all(os.path.isfile(p) for p in paths):
      return paths
  raise UserError("qm9pack is installed but lacks data/qm9_part{1,2,3}.csv;"
                  " reinstall it: pip install --force-reinstall tfmtl[qm9]")


def read_rows(paths: Sequence[str]):
  """(atoms [N, 29] int32, positions [N, 29, 3] float32, targets
  {task: [N] float64}, names [N]) of qm9pack-layout CSVs."""
  atoms, positions, names = [], [], []
  targets = {t: [] for t in TASKS}
  for path in paths:
    try:
      f = open(path, newline="")
    except OSError as e:
      raise UserError(f"{path}: cannot read ({e})") from None
    with f:
      reader = csv.DictReader(f)
      missing = [c for c in list(COLUMNS.values()) + list(TOTALS) +
                 ["Elements", "XYZ_Ang"] if c not in (reader.fieldnames or [])]
      if missing:
        raise UserError(f"{path}: not a qm9pack CSV (no columns {missing})")
      for line, row in enumerate(reader, start=2):
        try:
          elements = re.findall(r"[A-Z][a-z]?", row["Elements"])
          # Numbers like "0." are not JSON: read them with a pattern.
          xyz = np.array(NUMBER.findall(row["XYZ_Ang"]),
                         np.float64).reshape(-1, 3)
          values = {t: float(row[c]) for t, c in COLUMNS.items()}
          totals = [float(row[c]) for c in TOTALS]
        except (ValueError, KeyError) as e:
          raise UserError(f"{path}:{line}: unreadable row ({e})") from None
        n = len(elements)
        bad = [e for e in elements if e not in ELEMENTS]
        if bad or xyz.shape != (n, 3) or not 0 < n <= MAX_ATOMS:
          raise UserError(f"{path}:{line}: {n} atoms {elements} with "
                          f"coordinates {xyz.shape}; QM9 has 1..29 atoms "
                          "of H, C, N, O, F")
        z = np.zeros(MAX_ATOMS, np.int32)
        z[:n] = [ELEMENTS[e] for e in elements]
        pos = np.zeros((MAX_ATOMS, 3), np.float32)
        pos[:n] = xyz
        atoms.append(z)
        positions.append(pos)
        names.append(row.get("XYZ_file", ""))
        ref = np.sum([ATOM_REF[e] for e in elements], axis=0)
        for t in ("mu", "alpha", "r2", "cv"):
          targets[t].append(values[t])
        for t in ("homo", "lumo", "zpve"):
          targets[t].append(values[t] * HARTREE_TO_EV)
        for t, total, r in zip(("u0_atom", "u_atom", "h_atom", "g_atom"),
                               totals, ref):
          targets[t].append((total - r) * HARTREE_TO_EV)
  if not atoms:
    raise UserError(f"no molecules in {', '.join(paths)}")
  return (np.stack(atoms), np.stack(positions),
          {t: np.array(v) for t, v in targets.items()}, names)


def read_cached(paths: Sequence[str], cache: bool = True):
  """`read_rows`, through an .npz cache keyed by the files' sizes and
  modification times."""
  if not cache:
    return read_rows(paths)
  from tfmtl.data.embedded import data_dir  # pylint: disable=g-import-not-at-top
  key = hashlib.sha1(repr([(os.path.abspath(p), os.path.getsize(p),
                            os.path.getmtime(p)) for p in paths]).encode()
                     ).hexdigest()[:16]
  path = os.path.join(data_dir(), f"qm9-{key}.npz")
  if os.path.isfile(path):
    with np.load(path) as z:
      return (z["atoms"], z["positions"],
              {t: z[f"y_{t}"] for t in TASKS}, list(z["names"]))
  atoms, positions, targets, names = read_rows(paths)
  os.makedirs(data_dir(), exist_ok=True)
  tmp = path + f".{os.getpid()}.tmp.npz"
  np.savez(tmp, atoms=atoms, positions=positions, names=np.array(names),
           **{f"y_{t}": v for t, v in targets.items()})
  os.replace(tmp, path)
  return atoms, positions, targets, names


class QM9Source(ArraySource):
  """QM9 molecules as padded arrays; 11 regression tasks.

  Args:
    paths: qm9pack-layout CSVs (default: qm9pack's own three files).
    tasks: which of TASKS to label (default all 11).
    normalize: labels as (y − train mean) / train std.
    limit: keep this many molecules of each split at most (0: all), for a
      reduced run on a CPU.
    test_size, val_size: molecules of the test and validation splits.
    seed: split permutation and shuffling seed.
    cache: keep the parsed CSVs as an .npz under $TFMTL_DATA_DIR (parsing
      all 130,831 rows takes about half a minute).
  """

  def __init__(self, paths: Optional[Sequence[str]] = None,
               tasks: Sequence[str] = TASKS, normalize: bool = True,
               limit: int = 0, test_size: int = TEST, val_size: int = VAL,
               seed: int = 0, cache: bool = True):
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
      raise UserError(f"qm9: unknown tasks {bad}; known: {', '.join(TASKS)}")
    atoms, positions, targets, self.names = read_cached(
        list(paths) if paths else qm9pack_files(), cache)
    n = len(atoms)
    if test_size + val_size >= n:
      raise UserError(f"qm9: {n} molecules can't hold test_size={test_size}"
                      f" and val_size={val_size} plus a train split")
    perm = np.random.default_rng(seed).permutation(n)
    parts = {"test": perm[:test_size],
             "val": perm[test_size:test_size + val_size],
             "train": perm[test_size + val_size:]}
    if limit:
      parts = {k: v[:limit] for k, v in parts.items()}
    self._index = {k: parts[k] for k in SPLITS}
    y = {t: targets[t] for t in tasks}
    train = self._index["train"]
    self.target_mean = {t: float(v[train].mean()) if normalize else 0.0
                        for t, v in y.items()}
    # A constant target (tiny subsets) keeps std 1 rather than dividing by 0.
    self.target_std = {t: float(v[train].std() or 1.0) if normalize else 1.0
                       for t, v in y.items()}
    self._atoms, self._positions = atoms, positions
    self._labels = {t: ((v - self.target_mean[t]) / self.target_std[t]
                        ).astype(np.float32)[:, None] for t, v in y.items()}
    self.seed = seed

  @property
  def input_shape(self):
    return (MAX_ATOMS,)

  def arrays(self, split: str):
    """({"atoms", "positions"}, {task: [n, 1]}) of a split."""
    if split not in self._index:
      raise UserError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    idx = self._index[split]
    return ({"atoms": self._atoms[idx], "positions": self._positions[idx]},
            {k: v[idx] for k, v in self._labels.items()})

  def num_examples(self, split: str) -> int:
    return len(self._index[split])

  def dataset(self, split: str, batch_size: int, *, shuffle: bool = False,
              repeat: bool = False, seed: Optional[int] = None,
              drop_remainder: bool = True, input_context=None):
    """Batches of (inputs, labels), as ArraySource.dataset (dict inputs)."""
    x, y = self.arrays(split)
    n = len(x["atoms"])
    if n == 0:
      raise UserError(f"split {split!r} is empty")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if input_context is not None:
      ds = ds.shard(input_context.num_input_pipelines,
                    input_context.input_pipeline_id)
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    if shuffle:
      ds = ds.shuffle(n, seed=self.seed if seed is None else seed,
                      reshuffle_each_iteration=True)
    if repeat:
      ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(
        tf.data.AUTOTUNE)

  @property
  def label_std(self) -> Dict[str, float]:
    """{task: std}: evaluation reports MAE × std as `mae_units`."""
    return dict(self.target_std)

  def to_units(self, task: str, value):
    """A normalised label or prediction back in the task's units."""
    return value * self.target_std[task] + self.target_mean[task]


def qm9(**kwargs) -> QM9Source:
  """The registered `qm9` source (see QM9Source)."""
  return QM9Source(**kwargs)


