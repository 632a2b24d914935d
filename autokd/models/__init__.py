"""Model families with declared width/depth knobs, the model registry, teacher checkpoints.

Importing this package registers every built-in family: ``cnn``, ``mlp``, ``resnet`` (and
``resnet8`` .. ``resnet110``, ``resnet8x4``, ``resnet32x4``), ``wrn`` (``wrn16_1`` ..
``wrn28_10``), ``mobilenetv2`` (``mobilenetv2_x0_5``), ``vgg`` (``vgg8`` .. ``vgg19``) and
``shufflenetv2``. Any torchvision classification model is available as
``torchvision.<name>`` without registration.
"""

from autokd.models import _cnn  # noqa: F401  (registers the families)
from autokd.models import _mlp  # noqa: F401
from autokd.models import _mobilenetv2  # noqa: F401
from autokd.models import _resnet  # noqa: F401
from autokd.models import _shufflenetv2  # noqa: F401
from autokd.models import _vgg  # noqa: F401
from autokd.models import _wrn  # noqa: F401
from autokd.models._family import Family
from autokd.models._family import Knob
from autokd.models._family import get_family
from autokd.models._family import register_family
from autokd.models._family import register_variant
from autokd.models._family import resolve_knobs
from autokd.models._info import ModelInfo
from autokd.models._info import model_info
from autokd.models._info import probe_shapes
from autokd.models._registry import MODELS
from autokd.models._registry import build_model
from autokd.models._teacher import file_sha256
from autokd.models._teacher import load_checkpoint
from autokd.models._teacher import load_matching

__all__ = [
    "MODELS",
    "Family",
    "Knob",
    "ModelInfo",
    "build_model",
    "file_sha256",
    "get_family",
    "load_checkpoint",
    "load_matching",
    "model_info",
    "probe_shapes",
    "register_family",
    "register_variant",
    "resolve_knobs",
]
