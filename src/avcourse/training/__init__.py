"""Training: CAVL's curriculum (stage schedule + the ``model.fit`` loop)."""

from avcourse.training.curriculum import CurriculumResult, Stage, curriculum_stages, no_curriculum_stage, run_curriculum

__all__ = ["CurriculumResult", "Stage", "curriculum_stages", "no_curriculum_stage", "run_curriculum"]
