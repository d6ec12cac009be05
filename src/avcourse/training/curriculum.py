"""CAVL's curriculum: from one-source scenes to many-source scenes (§3.2, supp. 6.1).

Clips are sorted by their number of sound sources. Stage ``s`` trains on clips
with ``s`` sources, clustering into ``k_a = s`` audio centres and ``k_v = s + 1``
visual centres (one background centre), warm-started from stage ``s - 1``'s
weights with the learning rate ``1e-4 · 10^-(s-1)``. Every stage is an ordinary
``model.fit`` with the user's callbacks; the no-curriculum baseline is a single
stage on all clips shuffled together with one ``k``.

Example:
    ```python
    stages = curriculum_stages(3, epochs=2)
    result = run_curriculum(model, lambda stage: scene_dataset(256, num_sources=stage.num_sources), stages)
    result.histories[0]["loss"]
    ```

Taught in: tutorials/03_curriculum.ipynb
"""

import dataclasses

import keras

from avcourse._validation import check_positive_int

__all__ = ["CurriculumResult", "Stage", "curriculum_stages", "no_curriculum_stage", "run_curriculum"]


@dataclasses.dataclass(frozen=True)
class Stage:
    """One curriculum stage.

    Attributes:
        num_sources: source counts of the clips the stage trains on (a tuple;
            ``(s,)`` for stage ``s``, ``(1, ..., s)`` when earlier stages accumulate).
        num_audio_clusters: ``k_a``.
        num_visual_clusters: ``k_v`` (``k_a + 1``).
        learning_rate: Adam learning rate of the stage.
        epochs: epochs of ``model.fit`` in the stage.
        name: label used in logs and plots.
        variant: optional name of the model's training variant for the stage
            (e.g. CCoL's ``"grounding"``, ``"colearn"``, ``"cyclic"``). When set,
            :func:`run_curriculum` asks the model for it with
            ``model.for_stage(stage)`` instead of ``with_num_clusters``.
        learning_rate_steps: epochs (1-based, within the stage) after which the
            learning rate is multiplied by ``learning_rate_decay`` (step decay).
        learning_rate_decay: the step decay's factor.
    """

    num_sources: tuple
    num_audio_clusters: int
    num_visual_clusters: int
    learning_rate: float
    epochs: int
    name: str
    variant: str = None
    learning_rate_steps: tuple = ()
    learning_rate_decay: float = 0.1


@dataclasses.dataclass
class CurriculumResult:
    """What :func:`run_curriculum` returns: the model after each stage and each stage's history.

    ``stage_models[s]`` is the model as stage ``s`` left it (C1-trained,
    C2-trained, ...); ``model`` is the last of them.
    """

    stage_models: list
    stages: list
    histories: list

    @property
    def model(self):
        """The model after the last stage."""
        return self.stage_models[-1]

    def concatenated(self, key):
        """One metric over all stages' epochs, in training order (for plots like the paper's Fig. 4)."""
        return [value for history in self.histories for value in history.get(key, [])]


def curriculum_stages(num_stages=3, *, base_learning_rate=1e-4, decay=0.1, epochs=1, accumulate=False):
    """The paper's stage schedule: stage ``s`` has ``k_a = s``, ``k_v = s + 1``, lr ``base · decay^(s-1)``.

    Args:
        num_stages: how many stages (C1..C``num_stages``), 1 to 4.
        base_learning_rate: learning rate of the first stage (1e-4 in the paper).
        decay: factor per later stage (0.1 in the paper).
        epochs: epochs per stage, an int or one int per stage.
        accumulate: if True, stage ``s`` also revisits clips with fewer sources.

    Returns:
        list of :class:`Stage`.
    """
    if isinstance(num_stages, bool) or not isinstance(num_stages, int) or not 1 <= num_stages <= 4:
        raise ValueError(f"`num_stages` must be an integer from 1 to 4; received {num_stages!r}.")
    epochs = [epochs] * num_stages if isinstance(epochs, int) else list(epochs)
    if len(epochs) != num_stages:
        raise ValueError(f"`epochs` must be an int or have one entry per stage ({num_stages}); received {len(epochs)}.")
    for value in epochs:
        check_positive_int(value, "epochs")
    stages = []
    for index in range(num_stages):
        sources = index + 1
        stages.append(
            Stage(
                num_sources=tuple(range(1, sources + 1)) if accumulate else (sources,),
                num_audio_clusters=sources,
                num_visual_clusters=sources + 1,
                learning_rate=float(f"{base_learning_rate * decay**index:.12g}"),  # 1e-05, not 1.0000000000000003e-05
                epochs=epochs[index],
                name=f"C{sources}",
            )
        )
    return stages


def no_curriculum_stage(max_sources=3, *, num_audio_clusters=None, learning_rate=1e-4, epochs=1):
    """The baseline: one stage on clips with 1..``max_sources`` sources mixed, one ``k``.

    ``num_audio_clusters`` defaults to ``max_sources`` (enough centres for the
    busiest clips); ``k_v = k_a + 1``.
    """
    check_positive_int(max_sources, "max_sources")
    clusters = num_audio_clusters or max_sources
    return [
        Stage(
            num_sources=tuple(range(1, max_sources + 1)),
            num_audio_clusters=clusters,
            num_visual_clusters=clusters + 1,
            learning_rate=learning_rate,
            epochs=epochs,
            name="mixed",
        )
    ]


def run_curriculum(model, make_dataset, stages, *, callbacks=None, validation_data=None, optimizer=None, verbose=0):
    """Train ``model`` stage by stage with ``model.fit``.

    Each stage starts from a copy of the previous stage's model with the
    stage's cluster counts (``model.with_num_clusters``, weights carried over)
    and is compiled with a fresh optimizer at the stage's learning rate. A
    stage with a ``variant`` (CCoL's stages, :func:`avcourse.training.ccol.ccol_stages`)
    gets its model from ``model.for_stage(stage)`` instead; a stage with
    ``learning_rate_steps`` multiplies the learning rate by
    ``learning_rate_decay`` after each of those epochs.

    Args:
        model: a model with ``with_num_clusters(k_a, k_v)``, e.g. ``CAVLModel``, or,
            for stages with a ``variant``, ``for_stage(stage)``, e.g. ``CCoLModel``.
        make_dataset: ``callable(stage) -> tf.data.Dataset`` of the stage's clips,
            e.g. synthetic scenes with ``stage.num_sources`` sources, or
            AudioSet clips from ``avcourse.data.audioset.curriculum_splits``.
        stages: list of :class:`Stage` (:func:`curriculum_stages` or
            :func:`no_curriculum_stage`).
        callbacks: Keras callbacks passed to every stage's ``fit``.
        validation_data: ``callable(stage) -> dataset`` or a dataset, or None.
        optimizer: ``callable(learning_rate) -> optimizer``; default Adam (the paper's).
        verbose: ``fit`` verbosity.

    Returns:
        :class:`CurriculumResult` with the model after each stage and each
        stage's ``history.history`` dict.
    """
    if not stages:
        raise ValueError("`stages` must hold at least one Stage; received an empty list.")
    optimizer = optimizer or (lambda learning_rate: keras.optimizers.Adam(learning_rate))
    histories, stage_models = [], []
    for stage in stages:
        if stage.variant is not None:
            model = model.for_stage(stage)
        else:
            model = model.with_num_clusters(stage.num_audio_clusters, stage.num_visual_clusters)
        model.compile(optimizer=optimizer(stage.learning_rate))
        validation = validation_data(stage) if callable(validation_data) else validation_data
        stage_callbacks = list(callbacks or [])
        if stage.learning_rate_steps:
            stage_callbacks.append(_step_decay(stage))
        history = model.fit(
            make_dataset(stage),
            epochs=stage.epochs,
            callbacks=stage_callbacks or callbacks,
            validation_data=validation,
            verbose=verbose,
        )
        histories.append(history.history)
        stage_models.append(model)
    return CurriculumResult(stage_models=stage_models, stages=list(stages), histories=histories)


def _step_decay(stage):
    """``LearningRateScheduler``: ``lr = stage.learning_rate · decay^(number of steps already passed)``."""
    steps = tuple(stage.learning_rate_steps)

    def schedule(epoch, _):  # epoch is 0-based: a step after epoch s applies from epoch index s on
        return float(stage.learning_rate * stage.learning_rate_decay ** sum(epoch >= step for step in steps))

    return keras.callbacks.LearningRateScheduler(schedule)
