"""Pictures of inputs, labels and predictions, as uint8 RGB numpy arrays.

Dense tasks: semantic ids through the Cityscapes palette, depth through a
matplotlib colour map, motion as a red overlay on the frame, optical flow
through the Middlebury colour wheel (Baker et al., IJCV 2011). Rows of
input | ground truth | prediction are tiled by `grid`, written by `save_png`
and sent to TensorBoard by `image_summary`. Odometry: `trajectory_plot`
draws true vs predicted x-z paths (bird's-eye view, as the KITTI devkit).

Matplotlib is used through its object API and the Agg canvas only, so
importing this module never changes the process's pyplot backend.
"""

import os

import cv2
import numpy as np

from tfmtl.errors import UserError

IGNORE = 255

# Cityscapes colours (cityscapesScripts labels.py) for the label schemes of
# tfmtl.data.cityscapes: "19" train ids, "7" categories, "5" seed 001's
# road / sky / pedestrian / vehicle / background. Each category takes the
# colour of its most frequent member class.
PALETTES = {
    "19": np.array([
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
        (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
        (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
        (0, 0, 230), (119, 11, 32)], np.uint8),
    "7": np.array([
        (128, 64, 128), (70, 70, 70), (153, 153, 153), (107, 142, 35),
        (70, 130, 180), (220, 20, 60), (0, 0, 142)], np.uint8),
    "5": np.array([
        (128, 64, 128), (70, 130, 180), (220, 20, 60), (0, 0, 142),
        (70, 70, 70)], np.uint8),
}


def palette(num_classes):
  """[C, 3] uint8 colours: the Cityscapes ones for 19 / 7 / 5 classes,
  matplotlib's tab20 otherwise (up to 20 classes)."""
  key = str(num_classes)
  if key in PALETTES:
    return PALETTES[key]
  if not 0 < num_classes <= 20:
    raise UserError(f"palette: no colours for {num_classes} classes; pass "
                    "colors=[[r, g, b], ...] with one colour per class")
  from matplotlib import colormaps
  rgb = colormaps["tab20"](np.arange(num_classes))[:, :3]
  return np.round(rgb * 255).astype(np.uint8)


def _squeeze_channel(x):
  x = np.asarray(x)
  return x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x


def to_uint8(image):
  """[H, W], [H, W, 1] or [H, W, 3] image (float in [0, 1] or uint8) ->
  [H, W, 3] uint8."""
  x = np.asarray(image)
  if x.dtype != np.uint8:
    x = np.round(np.clip(np.nan_to_num(x.astype(np.float32)), 0, 1) * 255)
    x = x.astype(np.uint8)
  x = _squeeze_channel(x)
  if x.ndim == 2:
    x = np.repeat(x[..., None], 3, axis=-1)
  if x.ndim != 3 or x.shape[-1] != 3:
    raise UserError(f"image of shape {np.shape(image)}: give [H, W], "
                    "[H, W, 1] or [H, W, 3]")
  return x


def class_ids(pred):
  """Class ids from ids or from float scores with a trailing class axis."""
  pred = np.asarray(pred)
  if np.issubdtype(pred.dtype, np.floating):
    return np.argmax(pred, axis=-1)
  return _squeeze_channel(pred)


def colorize_labels(labels, num_classes=19, colors=None):
  """Semantic ids [H, W] (or [H, W, 1]) -> [H, W, 3] uint8.

  Ids outside [0, num_classes) -- 255 = ignore, negative void -- are black.
  """
  colors = palette(num_classes) if colors is None else np.asarray(
      colors, np.uint8)
  ids = _squeeze_channel(labels).astype(np.int64)
  out = np.zeros(ids.shape + (3,), np.uint8)
  valid = (ids >= 0) & (ids < len(colors))
  out[valid] = colors[ids[valid]]
  return out


def depth_to_rgb(depth, vmin=None, vmax=None, cmap="magma_r", inverse=False):
  """Depth [H, W] (or [H, W, 1]) metres -> [H, W, 3] uint8; depth <= 0 or
  non-finite (invalid) is black.

  Args:
    depth: metres.
    vmin, vmax: colour range; default the valid pixels' 1st..99th percentile
      (give the same range to ground truth and prediction to compare them).
    cmap: any matplotlib colour map name; the default magma_r shows near as
      bright.
    inverse: colour 1/depth instead (spreads out the near field).
  """
  from matplotlib import colormaps
  d = _squeeze_channel(depth).astype(np.float64)
  valid = np.isfinite(d) & (d > 0)
  v = np.where(valid, d, np.nan)
  if inverse:
    v = 1.0 / v
    vmin, vmax = (None if vmax is None else 1.0 / vmax,
                  None if vmin is None else 1.0 / vmin)
  lo, hi = depth_range(v[valid] if valid.any() else np.ones(1), vmin, vmax)
  t = np.clip((v - lo) / max(hi - lo, 1e-12), 0, 1)
  rgb = colormaps[cmap](np.where(valid, t, 0))[..., :3]
  out = np.round(rgb * 255).astype(np.uint8)
  out[~valid] = 0
  return out


def depth_range(values, vmin=None, vmax=None):
  """(lo, hi): given bounds, else the 1st / 99th percentile of `values`."""
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values) & (values > 0)]
  if not values.size:
    values = np.ones(1)
  lo = np.percentile(values, 1) if vmin is None else vmin
  hi = np.percentile(values, 99) if vmax is None else vmax
  return float(lo), float(max(hi, lo + 1e-6))


def motion_overlay(image, motion, color=(255, 0, 0), alpha=0.6):
  """Frame with moving pixels (motion == 1) tinted `color`.

  Args:
    image: [H, W, 3] float in [0, 1] or uint8.
    motion: [H, W] ids (0 static, 1 moving, 255 ignore, shown darkened) or
      [H, W, 2] scores (arg-maxed).
    color: RGB of the tint; alpha: its opacity.
  """
  img = to_uint8(image).astype(np.float32)
  ids = class_ids(motion)
  if ids.shape != img.shape[:2]:
    ids = cv2.resize(ids.astype(np.uint8), img.shape[1::-1],
                     interpolation=cv2.INTER_NEAREST)
  moving = ids == 1
  img[moving] = (1 - alpha) * img[moving] + alpha * np.asarray(color,
                                                               np.float32)
  img[ids == IGNORE] *= 0.4
  return np.round(img).astype(np.uint8)


def _color_wheel():
  """The Middlebury wheel: 55 hues through R, Y, G, C, B, M (Baker et al.).

  Segment lengths RY 15, YG 6, GC 4, CB 11, BM 13, MR 6; within a segment one
  channel ramps floor(255 i / n) up or 255 - floor(255 i / n) down.
  """
  wheel = []
  # (length, fixed channel at 255, ramping channel, ramp goes up?)
  for n, fixed, ramp, up in ((15, 0, 1, True), (6, 1, 0, False),
                             (4, 1, 2, True), (11, 2, 1, False),
                             (13, 2, 0, True), (6, 0, 2, False)):
    seg = np.zeros((n, 3))
    step = np.floor(255 * np.arange(n) / n)
    seg[:, fixed] = 255
    seg[:, ramp] = step if up else 255 - step
    wheel.append(seg)
  return np.concatenate(wheel) / 255.0


def flow_to_rgb(flow, max_flow=None):
  """Optical flow [H, W, >=2] (dx, dy[, confidence]) -> [H, W, 3] uint8.

  Middlebury colour coding (Baker et al., "A Database and Evaluation
  Methodology for Optical Flow", IJCV 2011, colorcode.cpp): hue is the
  direction, saturation the magnitude |f| / max_flow (white = no motion);
  beyond max_flow colours are darkened by 0.75. Non-finite or absurd
  (> 1e9) flow is black.

  Args:
    flow: pixels; only the first two channels are used.
    max_flow: normalising magnitude; default the largest valid magnitude.
  """
  f = np.asarray(flow, np.float64)
  if f.ndim != 3 or f.shape[-1] < 2:
    raise UserError(f"flow of shape {f.shape}: give [H, W, 2] (dx, dy) or "
                    "[H, W, 3] (dx, dy, confidence)")
  u, v = f[..., 0], f[..., 1]
  unknown = ~np.isfinite(u) | ~np.isfinite(v) | (np.abs(u) > 1e9) | (
      np.abs(v) > 1e9)
  u, v = np.where(unknown, 0, u), np.where(unknown, 0, v)
  rad = np.hypot(u, v)
  if max_flow is None:
    max_flow = rad.max() if rad.size else 0.0
  rad = rad / max(max_flow, 1e-12)
  wheel = _color_wheel()
  ncols = len(wheel)
  a = np.arctan2(-v, -u) / np.pi
  fk = (a + 1) / 2 * (ncols - 1)
  k0 = np.floor(fk).astype(int)
  k1 = (k0 + 1) % ncols
  w = (fk - k0)[..., None]
  col = (1 - w) * wheel[k0] + w * wheel[k1]
  inside = (rad <= 1)[..., None]
  col = np.where(inside, 1 - rad[..., None] * (1 - col), col * 0.75)
  out = np.floor(255 * np.clip(col, 0, 1)).astype(np.uint8)
  out[unknown] = 0
  return out


def task_row(task, image, y_true, y_pred, num_classes=None, **kwargs):
  """[input, ground truth, prediction] images of one example of one task.

  Args:
    task: "semantic", "depth", "motion" or "flow" (the repo's dense tasks).
    image: the RGB input frame [H, W, 3].
    y_true, y_pred: the task's label and model output for this example
      (semantic / motion outputs may be scores; they are arg-maxed).
    num_classes: semantic classes (palette choice); default 19.
    **kwargs: passed to the colouring (depth: vmin, vmax, cmap, inverse;
      flow: max_flow). Ground truth and prediction share one colour range.
  """
  if task == "semantic":
    n = num_classes or 19
    colors = [colorize_labels(y, n) for y in (y_true, class_ids(y_pred))]
  elif task == "depth":
    lo, hi = depth_range(_squeeze_channel(y_true), kwargs.pop("vmin", None),
                         kwargs.pop("vmax", None))
    colors = [depth_to_rgb(y, lo, hi, **kwargs) for y in (y_true, y_pred)]
  elif task == "motion":
    colors = [motion_overlay(image, y) for y in (y_true, y_pred)]
  elif task == "flow":
    true = np.asarray(y_true)
    mag = np.hypot(true[..., 0], true[..., 1])
    max_flow = kwargs.pop("max_flow", None) or float(
        np.max(mag[np.isfinite(mag)], initial=0.0))
    colors = [flow_to_rgb(y, max_flow) for y in (y_true, y_pred)]
  else:
    raise UserError(f"task_row: no picture for task {task!r}; known: "
                    "semantic, depth, motion, flow")
  return [to_uint8(image)] + colors


def grid(rows, pad=2, pad_value=255):
  """Tiles rows of images into one uint8 RGB image.

  Every cell is resized (nearest neighbour, which keeps label colours exact)
  to the largest height and width in the grid, so half-resolution outputs
  line up with the input.

  Args:
    rows: list of rows, each a list of images accepted by `to_uint8`; short
      rows are padded with blank cells.
    pad: pixels between cells and around the border.
    pad_value: grey level of the padding.
  """
  rows = [[to_uint8(c) for c in row] for row in rows]
  if not rows or not any(rows):
    raise UserError("grid: no images given; pass [[input, truth, pred], ...]")
  h = max(c.shape[0] for row in rows for c in row)
  w = max(c.shape[1] for row in rows for c in row)
  ncols = max(len(row) for row in rows)
  out = np.full((pad + len(rows) * (h + pad), pad + ncols * (w + pad), 3),
                pad_value, np.uint8)
  for i, row in enumerate(rows):
    for j, cell in enumerate(row):
      if cell.shape[:2] != (h, w):
        cell = cv2.resize(cell, (w, h), interpolation=cv2.INTER_NEAREST)
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      out[y:y + h, x:x + w] = cell
  return out


def save_png(path, img):
  """Writes an RGB image (anything `to_uint8` takes) as PNG; makes dirs."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if not cv2.imwrite(str(path), cv2.cvtColor(to_uint8(img),
                                             cv2.COLOR_RGB2BGR)):
    raise UserError(f"save_png: could not write {path}; check the folder "
                    "is writable and the name ends in .png")
  return path


def trajectory_plot(gt_poses, pred_poses, path=None, title=None, size=6.0,
                    dpi=100):
  """Bird's-eye (x-z) plot of true vs predicted camera paths.

  Colours follow the KITTI devkit: ground truth red, prediction blue, start
  a black square; equal axis scales.

  Args:
    gt_poses, pred_poses: poses accepted by tfmtl.metrics.odometry
      (N x 12, N x 3 x 4, N x 4 x 4); prediction may be None.
    path: if given, the PNG is written there too.
    title: plot title (e.g. the sequence and its t_err / r_err).
    size, dpi: figure size in inches and resolution.

  Returns:
    [H, W, 3] uint8 image of the plot.
  """
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  from tfmtl.metrics.odometry import as_matrices

  fig = Figure(figsize=(size, size), dpi=dpi)
  canvas = FigureCanvasAgg(fig)
  ax = fig.add_subplot(1, 1, 1)
  gt = as_matrices(gt_poses)[:, :3, 3]
  ax.plot(gt[:, 0], gt[:, 2], color="#FF0000", label="Ground truth")
  if pred_poses is not None:
    pred = as_matrices(pred_poses)[:, :3, 3]
    ax.plot(pred[:, 0], pred[:, 2], color="#0000FF", label="Prediction")
  ax.plot(gt[:1, 0], gt[:1, 2], "ks", markersize=6, label="Start")
  ax.set_aspect("equal", adjustable="datalim")
  ax.set_xlabel("x [m]")
  ax.set_ylabel("z [m]")
  ax.grid(True, alpha=0.3)
  ax.legend(loc="best")
  if title:
    ax.set_title(title)
  fig.tight_layout()
  canvas.draw()
  img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
  if path is not None:
    save_png(path, img)
  return img


def image_summary(name, images, step, max_outputs=3):
  """Writes uint8 image(s) to the default tf.summary writer.

  Args:
    name: summary tag.
    images: one [H, W, 3] image (e.g. a `grid`) or a list of them (same
      size) / a [K, H, W, 3] array.
    step: global step.
    max_outputs: at most this many images are kept per step.

  Returns:
    True if written, False when no default writer is set.
  """
  import tensorflow as tf
  x = np.asarray(images) if not isinstance(images, list) else np.stack(
      [to_uint8(i) for i in images])
  if x.ndim == 3:
    x = to_uint8(x)[None]
  return tf.summary.image(name, x, step=step, max_outputs=max_outputs)
