"""Distributed runs give the single-device answer.

- MirroredStrategy over 2 logical CPUs, built by `experiment.build` with
  `distribute_datasets_from_function` input, == one device (1e-5) for a
  loss-level (uncertainty), a gradient-level (pcgrad) and PRF.
- Two MultiWorkerMirroredStrategy processes on 127.0.0.1 (fresh ports,
  loopback only, bounded by a timeout) running train.py end with identical
  weights on both workers, equal to a single process fed the same global
  batches; only the chief keeps checkpoints.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from configs import toy_two_task
from tfmtl import distribute, experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 4


def _config(method):
  c = toy_two_task.get_config("runlocal")
  c.update(dict(method=method, steps=STEPS, log_every=STEPS,
                checkpoint_every=STEPS, batch_size=16, eval_batch_size=100))
  c.data.kwargs.n = 400
  c.model.kwargs.dropout = 0.0
  c.model.kwargs.trunk_units = [8]
  c.model.kwargs.tower_units = [4]
  if method == "prf":
    c.tasks.y2.role = "aux"
  return c


def _train(config, strategy):
  exp = experiment.build(config, strategy)
  it = iter(exp.train_dataset())
  for _ in range(STEPS):
    exp.train_step(next(it))
  return [v.numpy() for v in exp.model.trainable_variables]


@pytest.mark.parametrize("method", ["uncertainty", "pcgrad", "prf"])
def test_mirrored_equals_single_device(method, mirrored):
  single = _train(_config(method), distribute.make_strategy("default"))
  multi = _train(_config(method), mirrored)
  for a, b in zip(single, multi):
    np.testing.assert_allclose(a, b, atol=1e-5)


WORKER = r"""
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
import train
from tests.test_distribute import _config
c = _config("pcgrad")
c.strategy = "multi_worker"
out = {{}}
train.train(c, {workdir!r}, after_training=lambda exp: out.update(
    w=[v.numpy() for v in exp.model.trainable_variables]))
np.savez({dump!r}, *out["w"])
"""


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _single_process_reference():
  """One device fed the global batches the two workers' shards make."""
  c = _config("pcgrad")
  exp = experiment.build(c, distribute.make_strategy("default"))
  shards = [iter(exp.source.dataset(
      "train", c.batch_size, shuffle=True, repeat=True, seed=c.seed,
      input_context=tf.distribute.InputContext(2, w, 2))) for w in (0, 1)]
  for _ in range(STEPS):
    parts = [next(s) for s in shards]
    exp.train_step(tf.nest.map_structure(lambda *t: tf.concat(t, 0), *parts))
  return [v.numpy() for v in exp.model.trainable_variables]


def test_two_workers_on_loopback_match_one_process(tmp_path):
  workdir = str(tmp_path / "wd")
  hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
  procs = []
  for i in range(2):
    script = tmp_path / f"worker{i}.py"
    script.write_text(WORKER.format(root=ROOT, workdir=workdir,
                                    dump=str(tmp_path / f"w{i}.npz")))
    tf_config = {"cluster": {"worker": hosts},
                 "task": {"type": "worker", "index": i}}
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config),
               TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    procs.append(subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  try:
    outs = [p.communicate(timeout=240)[0] for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  w0, w1 = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
  ref = _single_process_reference()
  for k, r in zip(w0.files, ref):
    np.testing.assert_array_equal(w0[k], w1[k])
    np.testing.assert_allclose(w0[k], r, atol=1e-5)
  assert os.listdir(os.path.join(workdir, "checkpoints"))
  assert not [d for d in os.listdir(workdir) if d.startswith(".tmp_")]
