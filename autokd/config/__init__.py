"""Study files: YAML -> frozen, validated StudyConfig."""

from autokd._config import load_yaml
from autokd.config._study import FinalTraining
from autokd.config._study import PrunerSpec
from autokd.config._study import SamplerSpec
from autokd.config._study import StudyConfig
from autokd.config._study import StudySection
from autokd.config._study import TeacherConfig

__all__ = [
    "FinalTraining",
    "PrunerSpec",
    "SamplerSpec",
    "StudyConfig",
    "StudySection",
    "TeacherConfig",
    "load_yaml",
]
