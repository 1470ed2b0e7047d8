"""Image stages: page detection, deskew, shading, grid removal, crop, quality gate."""

from .pipeline import PIPELINE_VERSION, PipelineConfig, PipelineResult, run_pipeline

__all__ = ["PIPELINE_VERSION", "PipelineConfig", "PipelineResult", "run_pipeline"]
