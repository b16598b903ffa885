r"""A method's per-layer gate over training, from the runs' TensorBoard logs.

  python tools/gate_curves.py runs/results_vo/vo_prf_s{0,1,2,3,4} \
      runs/results_vo/vo_prf_gate_s{0,1,2,3,4} --tags=beta,agree,scale \
      --layers=shared_conv --hline='beta=0.1:ATG (w_flow)' \
      --png=docs/vo_beta.png

Reads `<tag>/<layer>` scalars (PRF logs `beta/`, `agree/`, `scale/` per
shared layer; the cosine gates log `gate/`, `cos/`) from each workdir's
`train/` events. Runs are grouped into rows as tools/compare.py groups them
(model + method, and the method kwargs that differ between runs, from
config.json); seeds of one row are averaged step by step. Prints a Markdown
table — per row, tag and layer, the mean over training and over its last
third, mean ± std over seeds — and with --png draws one panel per (row,
tag): a line per layer, coloured from the first shared layer to the last,
with --hline reference lines (e.g. ATG's fixed auxiliary weight).
"""

import collections
import os
import re
import sys
import textwrap

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfmtl import quiet  # noqa: E402
quiet.import_tensorflow()  # TensorFlow's start-up noise filtered out

from tools import compare  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402

_TAGS = flags.DEFINE_list("tags", ["beta"], "Log prefixes to read.")
_LAYERS = flags.DEFINE_string(
    "layers", "", "Regex on layer names: only matching layers (default all).")
_HLINES = flags.DEFINE_multi_string(
    "hline", [], "TAG=VALUE[:LABEL]: a dashed reference line on that tag's "
    "panels, e.g. --hline='beta=0.1:ATG (w_aux)'.")
# --png (the curves) and --out (the table) are tools/compare.py's flags.


def read_scalars(workdir, tags, layers=""):
  """{tag: {layer: (steps, values)}} of `<tag>/<layer>` in workdir/train."""
  from tensorboard.backend.event_processing import event_accumulator as ea  # pylint: disable=g-import-not-at-top
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top
  logdir = os.path.join(workdir, "train")
  if not os.path.isdir(logdir):
    raise UserError(f"{workdir}: no TensorBoard logs ({logdir} is missing); "
                    "give workdirs of train.py runs")
  events = ea.EventAccumulator(logdir, size_guidance={ea.TENSORS: 0,
                                                      ea.SCALARS: 0})
  events.Reload()
  out = collections.defaultdict(dict)
  pattern = re.compile(layers) if layers else None
  for tag in events.Tags()["tensors"]:
    prefix, _, layer = tag.partition("/")
    if prefix in tags and layer and (not pattern or pattern.search(layer)):
      points = sorted((e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                      for e in events.Tensors(tag))
      # A resumed run logs some steps twice: keep the last value of each.
      by_step = dict(points)
      out[prefix][layer] = (np.array(list(by_step), dtype=np.int64),
                            np.array(list(by_step.values())))
  return out


def run_info(workdir):
  """A report-like dict of what names a run's row (compare.row_name)."""
  config = compare.run_config(workdir)
  if not config:
    raise UserError(f"{workdir}: no config.json; give workdirs of train.py "
                    "runs (it is written with the first checkpoint)")
  method = config.get("method", "")
  return dict(tasks=list(config.get("tasks") or {}),
              model=(config.get("model") or {}).get("name", "model"),
              method=method, labels=compare.labels_note(workdir),
              settings=compare.method_settings(workdir, method))


def gather(workdirs, tags, layers=""):
  """OrderedDict row name -> {tag: {layer: (steps, [seeds × steps])}}.
  Seeds are cut to the steps all of them logged."""
  infos = [run_info(w) for w in workdirs]
  varying = compare.varying_settings(infos)
  rows = collections.OrderedDict()
  for wd, info in zip(workdirs, infos):
    name = compare.row_name(info, varying.get((info["model"],
                                               info["method"]), ()))
    rows.setdefault(name, []).append(read_scalars(wd, tags, layers))
  out = collections.OrderedDict()
  for name, runs in rows.items():
    out[name] = {}
    for tag in tags:
      layer_names = [l for l in runs[0].get(tag, {})
                     if all(l in r.get(tag, {}) for r in runs)]
      if not layer_names:
        continue
      out[name][tag] = {}
      for layer in layer_names:
        common = set.intersection(*(set(r[tag][layer][0]) for r in runs))
        steps = np.array(sorted(common), dtype=np.int64)
        # Each run's values at the shared steps (steps are sorted).
        values = np.stack([r[tag][layer][1][np.isin(r[tag][layer][0], steps)]
                           for r in runs])
        out[name][tag][layer] = (steps, values)
    if not out[name]:
      raise UserError(f"{name}: no {'/'.join(tags)} logs in its runs (does "
                      "the method log them? see its docstring)")
  return out


def table(curves) -> str:
  lines = ["| run | tag | layer | mean over training | mean over the last "
           "third | seeds |", "|---|---|---|---|---|---|"]
  for name, by_tag in curves.items():
    for tag, by_layer in by_tag.items():
      for layer, (steps, values) in by_layer.items():
        late = steps >= steps[0] + 2 * (steps[-1] - steps[0]) / 3
        cells = []
        for v in (values.mean(axis=1), values[:, late].mean(axis=1)):
          cells.append(f"{v.mean():.3g} ± {v.std():.2g}" if len(v) > 1
                       else f"{v.mean():.3g}")
        lines.append(f"| {name} | {tag} | {layer} | {cells[0]} | {cells[1]} "
                     f"| {len(values)} |")
  return "\n".join(lines)


def parse_hlines(items):
  """{tag: [(value, label)]} of --hline items."""
  out = collections.defaultdict(list)
  for item in items:
    tag, _, rest = item.partition("=")
    value, _, label = rest.partition(":")
    try:
      out[tag].append((float(value), label))
    except ValueError:
      raise UserError(f"--hline={item!r}: expected TAG=VALUE[:LABEL], e.g. "
                      "beta=0.1:ATG") from None
  return out


def picture(curves, path, hlines=None):
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from matplotlib import colormaps  # pylint: disable=g-import-not-at-top
  tags = list(dict.fromkeys(t for by_tag in curves.values() for t in by_tag))
  fig = Figure(figsize=(4.2 * len(tags), 3.0 * len(curves)))
  FigureCanvasAgg(fig)
  for i, (name, by_tag) in enumerate(curves.items()):
    for j, tag in enumerate(tags):
      ax = fig.add_subplot(len(curves), len(tags), i * len(tags) + j + 1)
      by_layer = by_tag.get(tag, {})
      cmap = colormaps["viridis"]
      for k, (layer, (steps, values)) in enumerate(by_layer.items()):
        ax.plot(steps, values.mean(axis=0), lw=1,
                color=cmap(k / max(1, len(by_layer) - 1)), label=layer)
      for value, label in (hlines or {}).get(tag, []):
        ax.axhline(value, color="k", ls="--", lw=0.8, label=label or None)
      low = min((v.min() for _, v in by_layer.values()), default=0.0)
      high = max((v.max() for _, v in by_layer.values()), default=0.0)
      if low > 0 and high > 10 * low:  # gates span decades
        ax.set_yscale("log")
      ax.set_title(textwrap.fill(f"{name}: {tag}", 48), fontsize=7)
      ax.set_xlabel("step", fontsize=7)
      ax.tick_params(labelsize=7)
      if i == 0 and j == 0:
        fig.legend(*ax.get_legend_handles_labels(), loc="lower center",
                   ncol=min(10, len(by_layer) + 1), fontsize=6,
                   frameon=False)
  fig.tight_layout(rect=(0, 0.04, 1, 1))
  fig.savefig(path, dpi=90)


def main(argv):
  workdirs = argv[1:]
  try:
    if not workdirs:
      raise UserError("give the workdirs of the runs whose gates to draw")
    curves = gather(workdirs, _TAGS.value, _LAYERS.value)
    hlines = parse_hlines(_HLINES.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  text = table(curves)
  print(text)
  if compare._OUT.value:
    with open(compare._OUT.value, "w") as f:
      f.write(text + "\n")
  if compare._PNG.value:
    picture(curves, compare._PNG.value, hlines)


if __name__ == "__main__":
  app.run(main)
