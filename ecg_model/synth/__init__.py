"""Synthetic ECG waveforms, printouts and phone photos with ground truth."""

from .generate import SynthOptions, example_printout, generate_dataset, make_sample, photograph
from .paper import GRID_COLOURS, LAYOUTS, PaperStyle, Printout, render_printout
from .photo import PhotoParams, random_photo_params, rotation_at_centre, simulate_photo
from .waveform import LEADS, TERRITORIES, WaveformParams, lead_st_weights, synthesize

__all__ = [
    "GRID_COLOURS", "LAYOUTS", "LEADS", "TERRITORIES", "PaperStyle", "PhotoParams", "Printout",
    "SynthOptions", "WaveformParams", "example_printout", "generate_dataset", "lead_st_weights",
    "make_sample", "photograph", "random_photo_params", "render_printout", "rotation_at_centre",
    "simulate_photo", "synthesize",
]
