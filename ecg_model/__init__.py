"""ECG image -> myocardial-infarction risk: image pipeline, CNN-BiLSTM, Grad-CAM.

A teaching and research tool, not a medical device. Heavy modules (torch) are imported by the
submodules that need them, so ``import ecg_model`` stays quick.
"""

__version__ = "0.1.0"

from .errors import ECGImageError, WeightsError

__all__ = ["ECGImageError", "WeightsError", "__version__"]
