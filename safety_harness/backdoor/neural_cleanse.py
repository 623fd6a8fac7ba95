"""Neural Cleanse: for every class, the smallest trigger that sends clean images to it.

A trigger for class ``k`` is a mask ``m_k`` (H, W) in [0, 1] and a pattern ``p_k`` (H, W, C) in
the model's input range [lo, hi]; it stamps an image as ``x' = (1 - m_k) x + m_k p_k``. For every
class at once, in one batched ``tf.GradientTape`` computation per step, the scan minimises

    L_k = mean_i CE(f(x'_i), k) + lambda_k |m_k|_1

over ``m_k = sigmoid(a_k)`` and ``p_k = lo + (hi - lo) (tanh(b_k) + 1) / 2`` (Adam on the
unconstrained ``a_k``, ``b_k``, so a trigger never leaves the input range). A backdoored class
needs a far smaller mask than the others (the rule that says when: safety_harness/backdoor/flagging.py).

The schedule of ``lambda_k`` and the per-class early stop follow the authors' code, per class, every
epoch of :data:`STEPS_PER_EPOCH` steps: ``lambda_k`` stays 0 until the trigger reaches
:data:`SUCCESS_THRESHOLD` of its images for :data:`PATIENCE` epochs, then starts at
:data:`INITIAL_COST`; it is multiplied by :data:`COST_MULTIPLIER` after ``PATIENCE`` successful
epochs and divided by ``COST_MULTIPLIER ** 1.5`` after ``PATIENCE`` failed ones. The smallest mask
of a successful epoch is kept. A class stops once its cost has moved both ways and its smallest
norm has not shrunk by 1 % for :data:`EARLY_STOP_PATIENCE` epochs.

The scan stops, converged, when every class has stopped or when the statistics the flagging rule
reads have settled: once every class is reached and penalised, the smallest and the median kept norm
each moved by at most :data:`SETTLE_TOLERANCE` over the last :data:`SETTLE_WINDOW` epochs
(:func:`settled`). Otherwise it stops at the step budget, not converged. The same inputs, seed and
budget give the same triggers.

Reference: B. Wang, Y. Yao, S. Shan, H. Li, B. Viswanath, H. Zheng and B. Y. Zhao, "Neural
Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE Symposium on
Security and Privacy 2019. Constants as in the authors' repository (bolunwang/backdoor) but for
the epoch (here 5 steps of 4 images, there a pass over the data), the patience (2 epochs, not 5),
the initial cost (0.01, not 0.001) and Adam's rate (0.25, not 0.1): so the costs adapt and the
norms settle within the budget. Measured on the bundled reference model: with the authors' cost and
rate the median norm still fell by 1 % every 5 steps at 300 steps; with these, the scan settled
after 180 steps at the same smallest class (22) and a similar norm (38.5, against 40.2).
"""

from dataclasses import dataclass

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.core.progress import SILENT, Progress
from safety_harness.explanations.model_access import ExplainedModel

INITIAL_COST = 1e-2
LEARNING_RATE = 0.25
ADAM_BETAS = (0.5, 0.9)
ADAM_EPSILON = 1e-7
#: share of the images a trigger must send to its class for its mask to count
SUCCESS_THRESHOLD = 0.99
STEPS_PER_EPOCH = 5
PATIENCE = 2
COST_MULTIPLIER = 1.5
EARLY_STOP_PATIENCE = 2 * PATIENCE
#: a class's smallest norm must shrink below this share of its best so far to count as progress
EARLY_STOP_IMPROVEMENT = 0.99
#: clean images stamped with every class's trigger in one step
IMAGES_PER_STEP = 4
#: the scan stops once the smallest and the median kept norm each moved by at most this share over
#: :data:`SETTLE_WINDOW` epochs (:func:`settled`)
SETTLE_TOLERANCE = 0.05
SETTLE_WINDOW = 4
#: the step budget of a default run (``--trigger-scan-steps``)
DEFAULT_STEPS = 300
#: how far from 0 and 1 the random initial mask and pattern are drawn (their inverses stay finite)
_INITIAL_MARGIN = 1e-3


@dataclass(frozen=True)
class TriggerSearch:
    """The reverse-engineered trigger of every class.

    ``masks`` (K, H, W) and ``patterns`` (K, H, W, C) in the input range: per class, the smallest
    mask of a successful epoch (the last one where none succeeded); ``norms`` (K,) their L1 norms,
    NaN for a class no trigger reached; ``success_rates`` (K,) the share of all the scan's images
    each trigger sends to its class; ``steps`` taken; ``converged``: stopped before the budget, because
    the statistics settled (:func:`settled`) or every class stopped early.
    """

    masks: np.ndarray
    patterns: np.ndarray
    norms: np.ndarray
    success_rates: np.ndarray
    steps: int
    converged: bool
    #: per epoch, the smallest and the median kept norm once every class is reached and penalised (NaN before)
    history: np.ndarray

    @property
    def unreached(self) -> np.ndarray:
        """The classes no trigger reached within the budget."""
        return np.flatnonzero(np.isnan(self.norms))


class _Schedule:
    """The per-class cost schedule and early stop of the authors' code, vectorised over classes."""

    def __init__(self, num_classes: int):
        self.cost = np.zeros(num_classes)
        self.best_norm = np.full(num_classes, np.inf)
        self.active = np.ones(num_classes, bool)
        self._set_count = np.zeros(num_classes, int)
        self._up_count = np.zeros(num_classes, int)
        self._down_count = np.zeros(num_classes, int)
        self._went_up = np.zeros(num_classes, bool)
        self._went_down = np.zeros(num_classes, bool)
        self._stall_count = np.zeros(num_classes, int)
        self._stall_best = np.full(num_classes, np.inf)

    def end_epoch(self, success: np.ndarray, norm: np.ndarray) -> np.ndarray:
        """Update after an epoch with each class's success rate and end-of-epoch mask norm; returns
        the classes whose mask is the smallest successful one so far (to be kept)."""
        succeeded = success >= SUCCESS_THRESHOLD
        improved = self.active & succeeded & (norm < self.best_norm)
        self.best_norm[improved] = norm[improved]
        stalled = np.isfinite(self.best_norm) & (self.best_norm >= EARLY_STOP_IMPROVEMENT * self._stall_best)
        self._stall_count = np.where(stalled, self._stall_count + 1, 0)
        self._stall_best = np.minimum(self._stall_best, self.best_norm)
        self.active &= ~(self._went_up & self._went_down & (self._stall_count >= EARLY_STOP_PATIENCE))

        self._set_count = np.where((self.cost == 0) & succeeded, self._set_count + 1, 0)
        start = self._set_count >= PATIENCE
        self.cost[start] = INITIAL_COST
        for counter in (self._up_count, self._down_count, self._went_up, self._went_down):
            counter[start] = 0
        self._up_count = np.where(succeeded, self._up_count + 1, 0)
        self._down_count = np.where(succeeded, 0, self._down_count + 1)
        up, down = self._up_count >= PATIENCE, (self._down_count >= PATIENCE) & (self._up_count < PATIENCE)
        self.cost[up] *= COST_MULTIPLIER
        self.cost[down] /= COST_MULTIPLIER ** 1.5
        self._went_up |= up
        self._went_down |= down
        self._up_count[up] = 0
        self._down_count[down] = 0
        return improved


def reverse_engineer_triggers(model: ExplainedModel, inputs: np.ndarray, input_range, *, max_steps: int,
                              seed: int = 0, images_per_step: int = IMAGES_PER_STEP,
                              progress: Progress = SILENT) -> TriggerSearch:
    """Every class's smallest trigger on preprocessed clean ``inputs`` (float32 (n, H, W, C) in
    ``input_range`` = (lo, hi)), within ``max_steps`` steps of all classes at once."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.float32 or inputs.ndim != 4 or not len(inputs):
        raise ValueError(f"inputs must be a non-empty float32 batch (n, H, W, C), got {inputs.dtype} {inputs.shape}")
    lo, hi = (float(v) for v in input_range)
    if not lo < hi:
        raise ValueError(f"input_range must be (lo, hi) with lo < hi, got {input_range!r}")
    for name, value in (("max_steps", max_steps), ("images_per_step", images_per_step)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    tf = tf_runtime.tensorflow()
    tf.config.experimental.enable_op_determinism()
    num_classes, (height, width, channels) = model.num_classes, inputs.shape[1:]
    rng = np.random.default_rng(seed)
    initial_mask = rng.uniform(_INITIAL_MARGIN, 1 - _INITIAL_MARGIN, (num_classes, height, width, 1))
    initial_pattern = rng.uniform(_INITIAL_MARGIN, 1 - _INITIAL_MARGIN, (num_classes, height, width, channels))
    optimiser = _Adam([np.log(initial_mask / (1 - initial_mask)), np.arctanh(2 * initial_pattern - 1)])
    mask_logits, pattern_logits = optimiser.variables

    def trigger():
        return tf.sigmoid(mask_logits), lo + (hi - lo) * (tf.tanh(pattern_logits) + 1) / 2

    per_step = min(images_per_step, len(inputs))
    targets = tf.constant(np.repeat(np.arange(num_classes), per_step))

    @tf.function(input_signature=[tf.TensorSpec([per_step, height, width, channels], tf.float32),
                                  tf.TensorSpec([num_classes], tf.float32), tf.TensorSpec([num_classes], tf.float32)])
    def step(images, cost, active):
        with tf.GradientTape() as tape:
            mask, pattern = trigger()
            stamped = (1 - mask[:, None]) * images[None] + (mask * pattern)[:, None]
            logits = model.logits(tf.reshape(stamped, (-1, height, width, channels)))
            cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
            norm = tf.reduce_sum(mask, axis=(1, 2, 3))
            loss = tf.reduce_sum(tf.reduce_mean(tf.reshape(cross_entropy, (num_classes, -1)), axis=1) + cost * norm)
        optimiser.apply(tape.gradient(loss, optimiser.variables), active)
        hits = tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=targets.dtype), targets), tf.float32)
        return tf.reduce_mean(tf.reshape(hits, (num_classes, -1)), axis=1)

    schedule = _Schedule(num_classes)
    kept_masks, kept_patterns = (v.numpy() for v in trigger())
    order, position, steps = rng.permutation(len(inputs)), 0, 0
    history = []
    with progress.stage("trigger scan (steps, every class at once)", max_steps) as advance:
        while steps < max_steps and schedule.active.any():  # or until the statistics settle
            epoch = min(STEPS_PER_EPOCH, max_steps - steps)
            success = np.zeros(num_classes)
            for _ in range(epoch):
                if position + per_step > len(order):
                    order, position = rng.permutation(len(inputs)), 0
                chosen = order[position:position + per_step]
                position += per_step
                success += step(tf.constant(inputs[chosen]), tf.constant(schedule.cost, tf.float32),
                                tf.constant(schedule.active, tf.float32)).numpy()
            steps += epoch
            advance(epoch)
            masks, patterns = (v.numpy() for v in trigger())
            kept = schedule.end_epoch(success / epoch, masks.sum(axis=(1, 2, 3), dtype=np.float64))
            unreached = ~np.isfinite(schedule.best_norm)
            kept_masks[kept | unreached], kept_patterns[kept | unreached] = (
                masks[kept | unreached], patterns[kept | unreached])
            penalised = not unreached.any() and (schedule.cost > 0).all()
            history.append([schedule.best_norm.min(), np.median(schedule.best_norm)] if penalised else [np.nan] * 2)
            if settled(history, SETTLE_WINDOW, SETTLE_TOLERANCE):
                break
    history = np.array(history, np.float64).reshape(-1, 2)
    norms = np.where(np.isfinite(schedule.best_norm), kept_masks.sum(axis=(1, 2, 3), dtype=np.float64), np.nan)
    return TriggerSearch(masks=kept_masks[..., 0], patterns=kept_patterns, norms=norms,
                         success_rates=_success_rates(model, inputs, kept_masks, kept_patterns), steps=steps,
                         converged=not schedule.active.any() or settled(history, SETTLE_WINDOW, SETTLE_TOLERANCE),
                         history=history)


def settled(history, window: int, tolerance: float) -> bool:
    """Whether every tracked statistic has stopped changing: over the last ``window`` + 1 rows of ``history``
    (epochs x statistics, NaN where a statistic is not yet defined), each column's largest value is at most
    ``1 + tolerance`` times its smallest (all positive).

    With the scan's history (the smallest and the median kept norm, defined once every class is reached and
    penalised), this is the scan's stopping criterion: the statistics the flagging rule reads
    (safety_harness/backdoor/flagging.py) moved by at most ``tolerance`` over ``window`` epochs.
    """
    history = np.asarray(history, np.float64)
    if history.ndim != 2:
        raise ValueError(f"history must be 2-d (epochs, statistics), got shape {history.shape}")
    if not isinstance(window, int) or window < 1 or not tolerance >= 0:
        raise ValueError(f"window must be a positive integer and tolerance >= 0, got {window!r} and {tolerance!r}")
    recent = history[-(window + 1):]
    if len(recent) < window + 1 or not np.isfinite(recent).all():
        return False
    return bool((recent.max(axis=0) <= (1 + tolerance) * recent.min(axis=0)).all())


class _Adam:
    """Adam (Kingma and Ba 2015) on a list of per-class parameter tensors; a class not ``active`` is left as it is."""

    def __init__(self, initial_values):
        tf = tf_runtime.tensorflow()
        self.variables = [tf.Variable(np.asarray(v, np.float32)) for v in initial_values]
        self._first = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self._second = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self._count = tf.Variable(0.0)

    def apply(self, gradients, active):
        tf = tf_runtime.tensorflow()
        beta1, beta2 = ADAM_BETAS
        self._count.assign_add(1.0)
        rate = LEARNING_RATE * tf.sqrt(1 - beta2 ** self._count) / (1 - beta1 ** self._count)
        for variable, first, second, gradient in zip(self.variables, self._first, self._second, gradients):
            first.assign(beta1 * first + (1 - beta1) * gradient)
            second.assign(beta2 * second + (1 - beta2) * tf.square(gradient))
            moving = tf.reshape(active, (-1,) + (1,) * (len(variable.shape) - 1))
            variable.assign_sub(moving * rate * first / (tf.sqrt(second) + ADAM_EPSILON))


#: stamped images per forward pass when the kept triggers are re-measured
_IMAGES_PER_PASS = 1024


def _success_rates(model: ExplainedModel, inputs, masks, patterns) -> np.ndarray:
    """Per class, the share of ``inputs`` its trigger sends to it."""
    tf = tf_runtime.tensorflow()
    per_pass = max(1, _IMAGES_PER_PASS // len(inputs))
    rates = []
    for start in range(0, len(masks), per_pass):
        mask, pattern = masks[start:start + per_pass], patterns[start:start + per_pass]
        stamped = (1 - mask[:, None]) * inputs[None] + (mask * pattern)[:, None]
        logits = model.logits(tf.constant(stamped.reshape(-1, *inputs.shape[1:]), tf.float32)).numpy()
        predicted = logits.argmax(axis=1).reshape(len(mask), len(inputs))
        rates.append((predicted == np.arange(start, start + len(mask))[:, None]).mean(axis=1))
    return np.concatenate(rates)
