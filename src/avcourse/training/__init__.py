"""Training: CAVL's curriculum (stage schedule + the ``model.fit`` loop) and the linear probe."""

from avcourse.training.curriculum import CurriculumResult, Stage, curriculum_stages, no_curriculum_stage, run_curriculum

__all__ = ["CurriculumResult", "Stage", "curriculum_stages", "no_curriculum_stage", "run_curriculum"]

# Linear probe of frozen audio features (CAVL Table 1 analogue).
from avcourse.training.probe import extract_audio_features, linear_probe  # noqa: E402

__all__ += ["extract_audio_features", "linear_probe"]
