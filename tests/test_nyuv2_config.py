"""configs/nyuv2_mtan.py: the 3-task set-up builds on embedded scenes."""

import numpy as np

from configs import nyuv2_mtan
from tfmtl import distribute, experiment, losses


def test_three_tasks_on_scenes_in_the_nyuv2_layout(tmp_path):
  c = nyuv2_mtan.get_config("runlocal")
  c.data.kwargs = dict(num=4, height=32, width=64, workers=1,
                       root=str(tmp_path / "scenes"))
  c.batch_size = 2  # runlocal's 4 is more than the 3 train scenes
  exp = experiment.build(c, distribute.make_strategy("default"),
                         with_step=False)
  x, y = next(iter(exp.source.dataset("train", 2)))
  out = exp.model(x)
  assert {t: tuple(v.shape) for t, v in out.items()} == {
      "semantic": (2, 32, 64, 13), "depth": (2, 32, 64, 1),
      "normal": (2, 32, 64, 3)}
  loss = losses.normal(y["normal"], out["normal"]).numpy()
  assert np.all((loss >= 0) & (loss <= 2))
